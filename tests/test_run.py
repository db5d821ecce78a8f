"""`python -m mnist_sweep` end to end: artifacts, summary, budget, bad input, no overwrite."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from mnist_sweep import models
from mnist_sweep.data import load_splits
from mnist_sweep.engine import evaluate
from mnist_sweep.run import time_to_target
from tests.conftest import QUICK


def run_dirs(root: Path) -> list[Path]:
    return sorted(p.parent for p in root.glob("outputs/*/*/.hydra"))


def test_one_epoch_run_on_a_slice_writes_every_artifact(cli, tmp_path, mnist_root):
    done = cli(*QUICK)
    assert done.returncode == 0, done.stderr
    (run,) = run_dirs(tmp_path)
    for name in (
        "metrics.json",
        "history.csv",
        "model.pt",
        "predictions.npz",
        ".hydra/config.yaml",
        ".hydra/overrides.yaml",
    ):
        assert (run / name).is_file(), name

    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["status"] == "completed"
    composed = yaml.safe_load((run / ".hydra" / "config.yaml").read_text())
    assert metrics["params"] == models.count_params(composed["model"])
    for key in (
        "test_acc",
        "test_loss",
        "best_test_acc",
        "best_epoch",
        "params",
        "epochs",
        "wall_seconds",
        "images_per_sec",
        "seed",
        "device",
        "precision",
        "precision_used",
        "cpu",
        "cpu_capability",
        "torch",
        "threads",
        "overrides",
    ):
        assert metrics[key] is not None, key
    assert metrics["overrides"] == QUICK
    assert metrics["precision"] == "auto" and metrics["precision_used"] in ("fp32", "bf16")

    rows = list(csv.DictReader((run / "history.csv").open()))
    assert len(rows) == 1
    assert {"train_loss", "train_acc", "test_loss", "test_acc", "lr", "seconds"} <= set(rows[0])
    assert float(rows[0]["test_acc"]) == metrics["test_acc"]
    # the cost of training: 8 batches of 128 images, forward and backward (3 × per image)
    assert metrics["macs"] == models.macs(composed["model"])
    assert metrics["train_macs"] == 3 * metrics["macs"] * 1024
    # 1,024 images for one epoch stay below 99.4 %: no epoch reached the target
    assert metrics["test_acc"] < 0.994
    assert metrics["target_epoch"] is None and metrics["target_seconds"] is None

    summary = re.search(
        r"done: test accuracy ([\d.]+)%.*?([\d,]+) parameters, ([\d.]+) s",
        done.stdout + done.stderr,
    )
    assert summary, done.stdout + done.stderr
    assert float(summary[1]) == round(100 * metrics["test_acc"], 2)
    assert int(summary[2].replace(",", "")) == metrics["params"]
    assert float(summary[3]) == round(metrics["wall_seconds"], 1)

    model = models.load(run / "model.pt")
    assert models.trainable_params(model) == metrics["params"]
    splits = load_splits(mnist_root, mean=0.1307, std=0.3081)
    model.to(memory_format=torch.channels_last)  # as the run trained and evaluated it
    again = evaluate(model, splits.test_x, splits.test_y, metrics["precision_used"])
    assert again.acc == pytest.approx(metrics["test_acc"], abs=1e-4)
    saved = np.load(run / "predictions.npz")
    assert (saved["pred"] == saved["target"]).mean() == pytest.approx(metrics["test_acc"])
    assert torch.equal(torch.from_numpy(saved["target"]).long(), splits.test_y)


def test_validation_split_makes_metrics_and_history_carry_val_accuracy(cli, tmp_path):
    done = cli(*QUICK, "data.val_size=500", "sched=plateau")
    assert done.returncode == 0, done.stderr
    (run,) = run_dirs(tmp_path)
    metrics = json.loads((run / "metrics.json").read_text())
    assert 0 <= metrics["val_acc"] <= 1
    assert "val_acc" in next(csv.DictReader((run / "history.csv").open()))


def test_model_over_budget_is_refused_before_training(cli, tmp_path):
    done = cli(*QUICK, "model.widths=[64,64,64,64,64,64]")
    assert done.returncode == 2
    out = done.stdout + done.stderr
    assert "refused before training" in out and "budget.max_params=20,000" in out
    assert "Traceback" not in out
    (run,) = run_dirs(tmp_path)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["status"] == "over_budget" and metrics["params"] > 20_000
    assert not (run / "model.pt").exists() and not (run / "history.csv").exists()


def test_a_model_over_the_multiply_add_budget_is_refused_before_training(cli, tmp_path):
    done = cli(*QUICK, "budget.max_macs=500000")  # the default model takes 972,160 per image
    assert done.returncode == 2
    assert "Traceback" not in done.stdout + done.stderr
    out = (done.stdout + done.stderr).splitlines()
    (line,) = [x for x in out if "refused before training" in x]  # one line says why
    assert "972,160 multiply-adds per image" in line
    assert "budget.max_macs=500,000" in line
    (run,) = run_dirs(tmp_path)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["status"] == "over_budget" and metrics["macs"] == 972_160
    assert metrics["budget"]["max_macs"] == 500_000 and metrics["train_macs"] is None
    assert not (run / "model.pt").exists() and not (run / "history.csv").exists()


def test_time_to_target_is_the_first_tested_epoch_at_the_target_and_its_training_seconds():
    def rows(*accs: float | None) -> list[dict[str, float]]:
        return [
            {"epoch": e, "seconds": 1.5} | ({} if a is None else {"test_acc": a})
            for e, a in enumerate(accs, start=1)
        ]

    assert time_to_target(rows(0.98, 0.993, 0.994, 0.996), 0.994) == (3, 4.5)
    assert time_to_target(rows(0.995), 0.994) == (1, 1.5)
    assert time_to_target(rows(0.98, 0.99), 0.994) == (None, None)  # never
    assert time_to_target(rows(0.98, 0.99, 0.996, 0.99), 0.994) == (3, 4.5)  # once is enough
    # epoch 2 was not tested (trainer.test_every=3): the first epoch at 99.4 % is not known
    assert time_to_target(rows(0.98, None, 0.995), 0.994) == (None, None)
    assert time_to_target(rows(0.995, None, 0.995), 0.994) == (1, 1.5)
    assert time_to_target([], 0.994) == (None, None)


def test_more_epochs_than_the_budget_allows_are_refused(cli, tmp_path):
    done = cli(*QUICK, "trainer.epochs=21")
    assert done.returncode == 2
    assert "budget.max_epochs=20" in done.stdout + done.stderr
    (run,) = run_dirs(tmp_path)
    assert json.loads((run / "metrics.json").read_text())["status"] == "over_budget"


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ("aug=sharpen", "aug/sharpen"),  # refused by Hydra's composition
        ("device=cuda", "device.name='cuda'"),  # refused by the machine it runs on
        ("trainer.epochs=0", "trainer.epochs=0"),  # refused by config.validate (test_config)
    ],
)
def test_bad_input_gets_a_clear_error_and_no_traceback(cli, override, named):
    done = cli(*QUICK, override)
    out = done.stdout + done.stderr
    assert done.returncode != 0
    assert named in out, out
    assert "Traceback" not in out


def test_unwritable_data_root_is_named(cli, tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    done = cli(*QUICK, f"data.root={blocker}/mnist")
    out = done.stdout + done.stderr
    assert done.returncode == 2 and "Traceback" not in out
    assert f"data.root='{blocker}/mnist'" in out


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder`` and its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_a_refused_rerun_changes_nothing_in_the_folder_it_was_pointed_at(cli, tmp_path):
    fixed = tmp_path / "fixed-run"
    assert cli(*QUICK, f"hydra.run.dir={fixed}", "trainer.seed=1").returncode == 0
    before = snapshot(fixed)
    again = cli(*QUICK, f"hydra.run.dir={fixed}", "trainer.seed=2")
    assert again.returncode == 2
    (line,) = again.stderr.splitlines()
    assert "already holds a run" in line and f"hydra.run.dir={fixed}" in line
    assert snapshot(fixed) == before  # .hydra/config.yaml still says seed 1


def test_a_search_preset_without_multirun_is_refused_with_a_hint(cli, tmp_path):
    done = cli(*QUICK, "hparams_search=widths")
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert "hparams_search=widths" in line and "-m" in line
    assert not (tmp_path / "outputs").exists()


def test_a_diverging_run_stops_at_that_epoch_and_says_so(cli, tmp_path):
    done = cli(*QUICK, "trainer.epochs=3", "optim.lr=1e6")
    out = done.stdout + done.stderr
    assert done.returncode == 2 and "Traceback" not in out
    assert "training diverged" in out and "optim.lr" in out
    (run,) = run_dirs(tmp_path)
    text = (run / "metrics.json").read_text()
    assert "NaN" not in text and "Infinity" not in text  # strictly valid JSON
    metrics = json.loads(text)
    assert metrics["status"] == "diverged"
    assert metrics["epochs"] == 3 and metrics["epochs_run"] == 1
    assert metrics["test_acc"] is None
    assert len(list(csv.DictReader((run / "history.csv").open()))) == 1
    page = (run / "report.html").read_text()
    assert "diverged</span>" in page and "training diverged" in page
    assert not (run / "model.pt").exists()


@pytest.mark.parametrize(
    ("args", "key"),
    [
        (["hydra.run.dir=/proc/no-such-run"], "hydra.run.dir=/proc/no-such-run"),
        (["-m", "hydra.sweep.dir=/proc/no-such-sweep", "trainer.seed=0,1"], "hydra.sweep.dir"),
    ],
)
def test_an_output_folder_that_cannot_be_written_gets_one_line(cli, args, key):
    done = cli(*QUICK, *args)
    assert done.returncode == 2
    assert "Traceback" not in done.stdout + done.stderr
    (line,) = [x for x in done.stderr.splitlines() if x.startswith("error:")]
    assert key in line and "cannot be used as the output folder" in line


def test_a_run_records_the_budget_it_is_judged_by(cli, tmp_path):
    done = cli(*QUICK, "budget.target_acc=0.1", "budget.max_epochs=30")
    assert done.returncode == 0, done.stderr
    (run,) = run_dirs(tmp_path)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["budget"] == {
        "max_params": 20_000,
        "max_epochs": 30,
        "target_acc": 0.1,
        "max_macs": None,
    }
    assert metrics["test_acc"] > 0.1
    # reached in its first (and only) epoch, after that epoch's training seconds
    (row,) = csv.DictReader((run / "history.csv").open())
    assert metrics["target_epoch"] == 1
    assert metrics["target_seconds"] == round(float(row["seconds"]), 3) > 0
    report = (run / "report.html").read_text()
    assert "at epoch 1, after" in report.split('id="to-target"')[1].split("</tr>")[0]
    assert "target achieved</span>" in (run / "report.html").read_text()
