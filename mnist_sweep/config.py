"""Checks on a composed config that Hydra's own composition cannot make.

Hydra already refuses unknown group options and misspelt keys; this module refuses values that
are the wrong type or out of range, naming the key, the bad value and what is allowed.
"""

from __future__ import annotations

from collections.abc import Mapping
from numbers import Real
from typing import Any

from omegaconf import DictConfig, OmegaConf

from mnist_sweep.augment import Augment
from mnist_sweep.data import SOURCES
from mnist_sweep.engine import DEVICES, PRECISIONS
from mnist_sweep.errors import ConfigError
from mnist_sweep.models import parse

TRAIN_IMAGES = 60_000
SCHED_WORDS = {"anneal_strategy": ("linear", "cos")}


def _number(
    key: str,
    value: Any,
    lo: float | None = None,
    hi: float | None = None,
    *,
    integer: bool = False,
    lo_open: bool = False,
    hi_open: bool = False,
    nullable: bool = False,
) -> None:
    if value is None and nullable:
        return
    kind = "an integer" if integer else "a number"
    ok = isinstance(value, int if integer else Real) and not isinstance(value, bool)
    if ok and lo is not None:
        ok = value > lo if lo_open else value >= lo
    if ok and hi is not None:
        ok = value < hi if hi_open else value <= hi
    if not ok:
        bounds = []
        if lo is not None:
            bounds.append(f"{'>' if lo_open else '>='} {lo:g}")
        if hi is not None:
            bounds.append(f"{'<' if hi_open else '<='} {hi:g}")
        allowed = f"{kind}{' ' + ' and '.join(bounds) if bounds else ''}"
        if nullable:
            allowed += " (or null)"
        raise ConfigError(f"{key}={value!r} is not allowed; it must be {allowed}.")


def _numbers_in(group: str, cfg: Mapping, words: Mapping[str, tuple[str, ...]]) -> None:
    """Every setting of an optimizer or schedule is a number, except the few named words."""
    for key, value in cfg.items():
        if key.startswith("_"):
            continue
        if key in words:
            if value not in words[key]:
                raise ConfigError(
                    f"{group}.{key}={value!r} is not allowed; "
                    f"choose one of {', '.join(words[key])}."
                )
        elif not isinstance(value, bool):
            _number(f"{group}.{key}", value)


def validate(cfg: DictConfig) -> dict[str, Any]:
    """Raise ConfigError on the first bad value; return the resolved config as plain data."""
    try:
        plain = OmegaConf.to_container(cfg, resolve=True)
    except Exception as exc:  # an interpolation that cannot resolve, e.g. a missing env var
        raise ConfigError(f"the config cannot be resolved: {exc}") from exc

    t = plain["trainer"]
    _number("trainer.epochs", t["epochs"], 1, integer=True)
    _number("trainer.batch_size", t["batch_size"], 1, integer=True)
    _number("trainer.seed", t["seed"], 0, integer=True)
    _number("trainer.label_smoothing", t["label_smoothing"], 0, 1, hi_open=True)
    _number("trainer.grad_clip", t["grad_clip"], 0, lo_open=True, nullable=True)

    o = plain["optim"]
    _number("optim.lr", o.get("lr"), 0, lo_open=True)
    _numbers_in("optim", o, {})
    _numbers_in("sched", plain["sched"], SCHED_WORDS)

    d = plain["device"]
    if d["name"] not in DEVICES:
        raise ConfigError(f"device.name={d['name']!r} is not allowed; choose one of {DEVICES}.")
    if d["precision"] not in PRECISIONS:
        raise ConfigError(
            f"device.precision={d['precision']!r} is not allowed; choose one of {PRECISIONS}."
        )
    _number("device.threads", d["threads"], 1, integer=True, nullable=True)
    if not isinstance(d["channels_last"], bool):
        raise ConfigError(f"device.channels_last={d['channels_last']!r} must be true or false.")

    data = plain["data"]
    _number("data.val_size", data["val_size"], 0, TRAIN_IMAGES, integer=True, hi_open=True)
    _number("data.train_subset", data["train_subset"], 1, integer=True, nullable=True)
    _number("data.std", data["std"], 0, lo_open=True)
    _number("data.mean", data["mean"])
    for source in data["sources"]:
        if source not in SOURCES:
            raise ConfigError(f"data.sources has {source!r}; allowed sources are {SOURCES}.")

    b = plain["budget"]
    _number("budget.max_params", b["max_params"], 1, integer=True, nullable=True)
    _number("budget.max_epochs", b["max_epochs"], 1, integer=True, nullable=True)

    parse(plain["model"])
    Augment(plain.get("aug"), background=0.0)
    return plain
