"""SIGINT and SIGTERM stop a run or a sweep as ``interrupted``: the finished epochs stay."""

from __future__ import annotations

import csv
import json
import signal

import pytest

from mnist_sweep import artifacts, models
from tests.conftest import QUICK, signal_after_epoch

LONG = [o for o in QUICK if not o.startswith("trainer.epochs=")] + ["trainer.epochs=20"]


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_stopped_run_keeps_its_finished_epochs_and_says_so_in_one_line(
    tmp_path, mnist_root, signum, status
):
    done = signal_after_epoch([*LONG, "hydra.run.dir=run"], tmp_path, "run/metrics.json", signum)
    assert done.returncode == status, done.stderr
    out = done.stdout + done.stderr
    assert "Traceback" not in out
    name = signal.Signals(signum).name
    (line,) = [x for x in out.splitlines() if "interrupted by" in x]
    assert name in line and "of 20 epochs" in line
    run = tmp_path / "run"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["status"] == "interrupted" and metrics["epochs_run"] >= 1
    rows = list(csv.DictReader((run / "history.csv").open()))
    assert len(rows) == metrics["epochs_run"]
    assert models.trainable_params(models.load(run / "model.pt")) == metrics["params"]
    assert "interrupted</span>" in (run / artifacts.RUN_REPORT).read_text()


def test_history_and_epochs_run_are_on_disk_after_every_epoch(tmp_path, mnist_root):
    """A run killed outright (no chance to clean up) still has its finished epochs."""
    done = signal_after_epoch([*LONG, "hydra.run.dir=run"], tmp_path, "run/metrics.json", 9)
    assert done.returncode == -9
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["status"] == "running" and metrics["epochs_run"] >= 1
    rows = list(csv.DictReader((tmp_path / "run" / "history.csv").open()))
    assert len(rows) == metrics["epochs_run"]
    assert not list((tmp_path / "run").glob(".*.*"))  # no temporary file left half-written


def test_an_interrupted_sweep_marks_its_job_interrupted_and_its_page_says_so(tmp_path, mnist_root):
    command = ["-m", *LONG, "trainer.seed=0,1", "hydra.sweep.dir=sweep"]
    done = signal_after_epoch(command, tmp_path, "sweep/0/metrics.json", signal.SIGINT)
    assert done.returncode == 130
    assert "Traceback" not in done.stdout + done.stderr
    sweep = tmp_path / "sweep"
    assert json.loads((sweep / "0" / "metrics.json").read_text())["status"] == "interrupted"
    assert not (sweep / "1").exists()
    page = (sweep / artifacts.LEADERBOARD).read_text()
    assert "Sweep stopped before it ended" in page and "0 of 2 jobs done" in page
    (row,) = csv.DictReader((sweep / artifacts.LEADERBOARD_CSV).open())
    assert row["status"] == "interrupted" and row["detail"].startswith("interrupted by SIGINT")
