"""Every check on a composed config that Hydra's own composition cannot make, in one place.

Hydra already refuses unknown group options and misspelt keys; ``validate`` refuses values of the
wrong type or out of range, naming the key, the bad value and what is allowed (one helper per kind
of check, in ``checks``). The allowed words live beside the code that uses them (``DEVICES`` and
``PRECISIONS`` in engine, ``SOURCES`` in data, heads and kernels in models, transforms in
augment) and are imported from there.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from omegaconf import DictConfig, OmegaConf

from mnist_sweep import checks, loggers
from mnist_sweep.augment import Augment
from mnist_sweep.data import SOURCES, TRAIN_IMAGES
from mnist_sweep.engine import DEVICES, PRECISIONS, TARGETS
from mnist_sweep.errors import ConfigError
from mnist_sweep.models import NATIVE, is_native, parse

Rule = Callable[[str, Any], None]
# The largest seed or optimizer setting torch takes: a signed 64-bit integer (float32 reaches
# further, so a float setting up to it fits too).
MAX_TORCH = 2**63 - 1
MAX_THREADS = 1024  # more than any CPU has cores; torch would try to start every one


def _positive(key: str, value: Any) -> None:
    checks.number(key, value, 0, MAX_TORCH, lo_open=True)


def _non_negative(key: str, value: Any) -> None:
    checks.number(key, value, 0, MAX_TORCH)


def _fraction_open(key: str, value: Any) -> None:
    checks.number(key, value, 0, 1, lo_open=True, hi_open=True)


# Settings of the optimizers (torch.optim) and schedules (engine's factories) by name; any other
# setting must be a number (or true/false).
OPTIM_RULES: dict[str, Rule] = {
    "lr": _positive,
    "momentum": lambda k, v: checks.number(k, v, 0, 1),
    "dampening": lambda k, v: checks.number(k, v, 0, 1),
    "weight_decay": _non_negative,
    "eps": _positive,
    "nesterov": checks.flag,
    "betas": lambda k, v: checks.pair(k, v, 0, 0.999999),
}
SCHED_RULES: dict[str, Rule] = {
    "max_lr": _positive,
    "pct_start": _fraction_open,
    "div_factor": _positive,
    "final_div_factor": _positive,
    "anneal_strategy": lambda k, v: checks.choice(k, v, ("linear", "cos")),
    "warmup_epochs": _non_negative,
    "min_lr": _non_negative,
    "factor": _fraction_open,
    "patience": lambda k, v: checks.number(k, v, 0, integer=True),
    "step_epochs": lambda k, v: checks.number(k, v, 1, integer=True),
    "gamma": lambda k, v: checks.number(k, v, 0, 1, lo_open=True),
}


def _settings(group: str, node: Mapping, rules: Mapping[str, Rule]) -> None:
    for key, value in node.items():
        if key.startswith("_"):  # Hydra's _target_ and friends
            continue
        rule = rules.get(key)
        if rule:
            rule(f"{group}.{key}", value)
        elif not isinstance(value, bool):
            checks.number(f"{group}.{key}", value)


def _matches(target: str, pattern: str) -> bool:
    return target.startswith(pattern[:-1]) if pattern.endswith(".*") else target == pattern


def to_plain(cfg: Mapping) -> dict[str, Any]:
    """A composed config as plain, resolved data; an unresolvable interpolation is a ConfigError."""
    if not isinstance(cfg, DictConfig):
        return OmegaConf.to_container(OmegaConf.create(dict(cfg)), resolve=True)
    try:
        return OmegaConf.to_container(cfg, resolve=True)
    except Exception as exc:  # e.g. a missing environment variable
        key = getattr(exc, "full_key", None)
        reason = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise ConfigError(
            f"the config cannot be resolved{f' at {key}' if key else ''}: {reason}"
        ) from exc


# What a config holds besides what its run trains: how the run is judged, logged, which search
# proposed it and which targets it may name; inside the groups, how many threads ran it, its seed,
# when it evaluated the test set (not what training did) and where the data lives.
NOT_RECIPE = ("budget", "logger", "search", "allowed_targets", "hydra")
NOT_RECIPE_KEYS = (
    ("device", "threads"),
    ("trainer", "seed"),
    ("trainer", "test_every"),
    ("trainer", "val_every"),
    ("data", "root"),
)


def recipe(plain: Mapping) -> dict[str, Any]:
    """The parts of a plain config that decide what its run trains: two runs with equal recipes
    (and seeds) train the same model the same way."""
    kept = {k: dict(v) if isinstance(v, Mapping) else v for k, v in plain.items()}
    for key in NOT_RECIPE:
        kept.pop(key, None)
    for group, key in NOT_RECIPE_KEYS:
        if isinstance(kept.get(group), dict):
            kept[group].pop(key, None)
    return kept


def _model_shapes(model: Mapping) -> None:
    """The native model's keys that must be lists are lists (a scalar or a word is not read
    as one), and its sizes are whole numbers."""
    for key in ("widths", "blocks"):
        value = model.get(key)
        if value is not None and not isinstance(value, list):
            raise checks.refuse(f"model.{key}", value, "a list of positive integers, e.g. [8,16]")
    for key in ("kernels", "padding", "dropout"):
        if isinstance(model.get(key), str | dict):
            raise checks.refuse(f"model.{key}", model[key], "one value or a list of values")
    for key in ("pool", "pool_before_bn"):
        items = model.get(key) if isinstance(model.get(key), list) else [model.get(key, True)]
        if not all(isinstance(v, bool) for v in items):
            raise checks.refuse(f"model.{key}", model[key], "true or false, or one per block")
    checks.flag("model.conv_bias", model.get("conv_bias", True))
    for key in ("in_channels", "image_size", "num_classes"):
        if key in model:
            checks.number(f"model.{key}", model[key], 1, integer=True)


SEARCH_DIRECTIONS = ("minimize", "maximize")
STUDY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")  # it names files and pages


def validate_search(n_trials: Any, directions: list[Any], study_name: Any) -> None:
    """The search's own settings, refused before its study (or a study file) is created."""
    checks.number("hydra.sweeper.n_trials", n_trials, 1, integer=True)
    for direction in directions:
        checks.choice("hydra.sweeper.direction", direction, SEARCH_DIRECTIONS)
    if study_name is not None and not STUDY_NAME.fullmatch(str(study_name)):
        raise checks.refuse(
            "hydra.sweeper.study_name",
            study_name,
            "1 to 100 letters, digits, '_', '.' or '-', starting with a letter or digit",
        )


def validate(cfg: Mapping) -> dict[str, Any]:
    """Raise ConfigError on the first bad value; return the resolved config as plain data."""
    plain = to_plain(cfg)

    t = plain["trainer"]
    checks.number("trainer.epochs", t["epochs"], 1, integer=True)
    checks.number("trainer.batch_size", t["batch_size"], 2, integer=True)  # BatchNorm needs 2
    checks.number("trainer.seed", t["seed"], 0, MAX_TORCH, integer=True)
    checks.number("trainer.label_smoothing", t["label_smoothing"], 0, 1, hi_open=True)
    checks.number("trainer.grad_clip", t["grad_clip"], 0, lo_open=True, nullable=True)
    checks.number("trainer.test_every", t["test_every"], 0, integer=True)
    checks.number("trainer.val_every", t["val_every"], 0, integer=True)

    o = plain["optim"]
    _positive("optim.lr", o.get("lr"))
    _settings("optim", o, OPTIM_RULES)
    if o.get("nesterov") and not (o.get("momentum", 0) > 0 and o.get("dampening", 0) == 0):
        raise checks.refuse(
            "optim.momentum", o.get("momentum"), "above 0 (and optim.dampening 0) with nesterov"
        )
    _settings("sched", plain["sched"], SCHED_RULES)

    d = plain["device"]
    checks.choice("device.name", d["name"], DEVICES)
    checks.choice("device.precision", d["precision"], PRECISIONS)
    checks.number("device.threads", d["threads"], 1, MAX_THREADS, integer=True, nullable=True)
    checks.flag("device.channels_last", d["channels_last"])

    data = plain["data"]
    checks.number("data.val_size", data["val_size"], 0, TRAIN_IMAGES, integer=True, hi_open=True)
    checks.number("data.train_subset", data["train_subset"], 1, integer=True, nullable=True)
    checks.number("data.split_seed", data["split_seed"], 0, MAX_TORCH, integer=True)
    if data["val_size"] and TRAIN_IMAGES - data["val_size"] < t["batch_size"] <= TRAIN_IMAGES:
        raise checks.refuse(
            "data.val_size",
            data["val_size"],
            f"at most {TRAIN_IMAGES - t['batch_size']:,}: it leaves "
            f"{TRAIN_IMAGES - data['val_size']:,} of the {TRAIN_IMAGES:,} training images to "
            f"train on, fewer than one batch (trainer.batch_size={t['batch_size']})",
        )
    checks.number("data.std", data["std"], 0, 1, lo_open=True)  # of pixels scaled to [0, 1]
    checks.number("data.mean", data["mean"], 0, 1)
    for source in data["sources"]:
        checks.choice("data.sources[]", source, SOURCES)

    b = plain["budget"]
    checks.number("budget.max_params", b["max_params"], 1, integer=True, nullable=True)
    checks.number("budget.max_epochs", b["max_epochs"], 1, integer=True, nullable=True)
    checks.number("budget.target_acc", b["target_acc"], 0, 1, lo_open=True)

    allowed = plain.get("allowed_targets", [])
    if not isinstance(allowed, list) or not all(isinstance(a, str) and a for a in allowed):
        raise checks.refuse(
            "allowed_targets", allowed, "a list of module prefixes, e.g. [my_models.*]"
        )
    if is_native(plain["model"]):
        _model_shapes(plain["model"])
        parse(plain["model"])
    elif not any(_matches(plain["model"]["_target_"], a) for a in [*TARGETS, *allowed]):
        target = plain["model"]["_target_"]
        raise ConfigError(
            f"model._target_={target!r} is not allowed: a config may name {NATIVE} or a class "
            "under a prefix listed in allowed_targets; to train your own nn.Module, add "
            f"allowed_targets=[{target.rsplit('.', 1)[0]}.*]."
        )
    Augment(plain.get("aug"), background=0.0)
    loggers.check(plain.get("logger"))
    return plain
