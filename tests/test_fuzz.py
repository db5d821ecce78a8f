"""Hostile values in config keys: each is refused with one line (exit 2) or runs (exit 0).

A seeded draw of (key, value) pairs: types, signs, huge numbers, special characters. Many pairs
are checked in-process by composing and validating the config; a few go through the CLI, which
must answer with exit status 0 or 2, no traceback, and no change outside the run's own new folder.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.errors import HydraException

from mnist_sweep.config import validate
from mnist_sweep.errors import ConfigError
from tests.conftest import CONF, DATA_ROOT, QUICK

# Config keys, and whether their node is a list (a mapping given for a list is Hydra's own merge
# error, a message of its own with exit status 1, and is not drawn). data.root and data.sources
# are left out: a valid new value there fetches MNIST anew.
KEYS = {
    "trainer.epochs": False,
    "trainer.batch_size": False,
    "trainer.seed": False,
    "trainer.label_smoothing": False,
    "trainer.grad_clip": False,
    "trainer.test_every": False,
    "optim.lr": False,
    "optim.momentum": False,
    "optim.nesterov": False,
    "optim.weight_decay": False,
    "sched.pct_start": False,
    "sched.div_factor": False,
    "sched.final_div_factor": False,
    "sched.anneal_strategy": False,
    "model.widths": True,
    "model.blocks": True,
    "model.kernels": False,
    "model.padding": True,
    "model.pool": True,
    "model.pool_before_bn": True,
    "model.dropout": False,
    "model.head": False,
    "model.conv_bias": False,
    "device.name": False,
    "device.threads": False,
    "device.precision": False,
    "device.channels_last": False,
    "data.val_size": False,
    "data.train_subset": False,
    "data.mean": False,
    "data.std": False,
    "data.split_seed": False,
    "budget.max_params": False,
    "budget.max_epochs": False,
    "budget.target_acc": False,
    "aug.affine.degrees": False,
    "aug.affine.translate": True,
    "aug.affine.scale": True,
    "aug.affine.shear": False,
    "allowed_targets": True,
}
NUMBERS = ["0", "-1", "1", "2.5", "-0.0", "1e308", "-1e308", "1" + "0" * 30, "-" + "9" * 25]
NUMBERS += ["nan", "inf", "-inf", "2"]
WORDS = ["true", "false", "null", "abc", "'=1+1'", "'<b>x</b>'", "'a(b)'", "'it''s'", "''"]
WORDS += ["'ü😀'", "'${nope}'", "'-1'", "'@x'", "'a,b'"]
LISTS = ["[]", "[1,-1]", "['x']", "[[1]]", "[1e308]", "[0.5,0.5]", "[8,16,16,16,16,16]"]
MAPPINGS = ["{}", "{a: 1}"]


def draws(seed: int, n: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    pairs = []
    for _ in range(n):
        key = rng.choice(sorted(KEYS))
        values = NUMBERS + WORDS + LISTS + ([] if KEYS[key] else MAPPINGS)
        pairs.append((key, rng.choice(values)))
    return pairs


def test_hostile_values_are_refused_with_one_line_or_accepted(mnist_root):
    with initialize_config_dir(config_dir=str(CONF)):
        for key, value in draws(seed=0, n=60):
            overrides = [f"data.root={mnist_root}", *QUICK, f"{key}={value}"]
            try:
                validate(compose("config", overrides=overrides))
            except ConfigError as exc:
                assert "\n" not in str(exc), (key, value, str(exc))
            except HydraException as exc:  # Hydra's own composition refusal, naming the key
                assert key in str(exc), (key, value, str(exc))


def tree(root: Path) -> dict[str, tuple[int, int] | None]:
    """Every path below ``root``; a file with its size and modification time."""
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) if p.is_file() else None
        for p in root.rglob("*")
    }


@pytest.mark.parametrize(("key", "value"), draws(seed=23, n=3))  # 60 more in-process, above
def test_a_hostile_value_on_the_command_line_is_refused_or_runs_and_touches_nothing_else(
    cli, tmp_path, mnist_root, key, value
):
    (tmp_path / "outputs" / "earlier").mkdir(parents=True)
    (tmp_path / "outputs" / "earlier" / "metrics.json").write_text("{}")
    before, data_before = tree(tmp_path), tree(DATA_ROOT)
    done = cli(*QUICK, f"{key}={value}")
    assert done.returncode in (0, 2), (key, value, done.stderr[-2000:])
    assert "Traceback" not in done.stdout + done.stderr, (key, value)
    if done.returncode == 2:
        out = (done.stdout + done.stderr).splitlines()
        assert len([x for x in out if "error" in x.lower()]) == 1, (key, value, out)
    after = tree(tmp_path)
    assert {p: after.get(p) for p in before} == before  # nothing that was there changed
    new = {Path(p).parts[:3] for p in set(after) - set(before) if len(Path(p).parts) >= 3}
    assert len(new) <= 1  # everything new is inside one run folder, outputs/<date>/<time>
    assert tree(DATA_ROOT) == data_before
