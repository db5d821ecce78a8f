"""A user's own nn.Module: allowed by prefix, counted on the meta device, budgeted, trained."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import torch

from mnist_sweep import models
from mnist_sweep.errors import ConfigError
from tests.conftest import QUICK, run_module

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
OWN = [
    f"hydra.searchpath=[file://{EXAMPLES / 'conf'}]",
    "model=tinynet",
    "allowed_targets=[my_models.*]",
]


@pytest.fixture()
def own_cli(mnist_root, tmp_path):
    def run(*args: str) -> subprocess.CompletedProcess:
        return run_module("mnist_sweep", *args, cwd=tmp_path, env={"PYTHONPATH": str(EXAMPLES)})

    return run


@pytest.fixture()
def on_path(monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLES))


def test_parameters_are_counted_on_the_meta_device_without_real_weights(on_path):
    cfg = {"_target_": "my_models.TinyNet", "width": 20_000}  # 3.6 billion parameters
    table = models.architecture(cfg, ["my_models.*"])
    conv2 = 20_000 * 20_000 * 9
    assert sum(r.params for r in table) > conv2  # counted in well under a second, no 14 GB
    import my_models

    small = {"_target_": "my_models.TinyNet", "width": 8}
    built = my_models.TinyNet(width=8)
    assert models.count_params(small, ["my_models.*"]) == models.trainable_params(built)
    shapes = {r.name: r.out_shape for r in models.architecture(small, ["my_models.*"])}
    assert shapes["body.3 (MaxPool2d)"] == (8, 14, 14) and shapes["head (Linear)"] == (10,)
    assert models.macs(small, ["my_models.*"]) == 8 * 9 * 784 + 8 * 8 * 9 * 196 + 8 * 10
    assert next(built.parameters()).device == torch.device("cpu")


def test_a_target_outside_the_allowed_prefixes_is_refused(on_path):
    with pytest.raises(ConfigError):
        models.architecture({"_target_": "my_models.TinyNet"}, [])


def test_your_own_module_trains_and_reports_its_own_architecture(own_cli, tmp_path):
    done = own_cli(*OWN, *QUICK)
    assert done.returncode == 0, done.stderr[-3000:]
    (run,) = [p.parent for p in tmp_path.glob("outputs/*/*/metrics.json")]
    metrics = json.loads((run / "metrics.json").read_text())
    assert (
        metrics["status"] == "completed"
        and metrics["params"] == 16 * 9 + 32 + 16 * 16 * 9 + 32 + 170
    )
    page = (run / "report.html").read_text()
    assert "body.0 (Conv2d)" in page and "head (Linear)" in page


def test_your_own_module_is_held_to_the_budget_and_the_allow_list(own_cli, tmp_path):
    over = own_cli(*OWN, *QUICK, "model.width=64")
    assert over.returncode == 2 and "refused before training" in over.stdout + over.stderr
    refused = own_cli(*OWN[:2], *QUICK)
    out = refused.stdout + refused.stderr
    assert refused.returncode == 2 and "Traceback" not in out
    assert "model._target_='my_models.TinyNet' is not allowed" in out
    assert "allowed_targets=[my_models.*]" in out
