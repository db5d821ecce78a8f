"""The live leaderboard: the callback rewrites the page as each job ends, the sweep's state
(running, ended, stopped) and its expected jobs, and rebuilds that race."""

from __future__ import annotations

import csv
import json
import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path

from hydra.types import RunMode
from omegaconf import OmegaConf

from mnist_sweep import artifacts, report
from mnist_sweep.callbacks import LeaderboardCallback, expected_jobs
from mnist_sweep.report import collect, live
from tests.helpers.pages import page_data
from tests.helpers.runs import fake_run, sweep
from tests.helpers.synthetic import make_runs


def hydra_config(sweep_dir: Path, task: list[str], sweeper: dict | None = None):
    """The parts of a job's config the callback reads."""
    return OmegaConf.create(
        {
            "hydra": {
                "mode": RunMode.MULTIRUN,
                "sweep": {"dir": str(sweep_dir)},
                "sweeper": sweeper or {"params": None},
                "overrides": {"task": task},
            }
        }
    )


def test_expected_jobs_counts_sweep_overrides_or_optuna_trials(tmp_path):
    def count(task: list[str], sweeper: dict | None = None) -> int | None:
        return expected_jobs(hydra_config(tmp_path, task, sweeper))

    assert count(["aug=none,rotate", "trainer.seed=range(3)", "trainer.epochs=1"]) == 6
    assert count(["aug=none"], {"params": {"optim.lr": "0.1,0.2"}}) == 2
    assert (
        count(["data.train_subset=512"], {"n_trials": 24, "params": {"search.w1": "range(4, 9)"}})
        == 24
    )
    assert count(["x=1"], {"n_trials": 4, "seeds": [0, 1, 2], "params": None}) == 12
    assert count(["aug=glob(*)"]) is None  # needs the config to expand


def test_each_job_end_rewrites_the_page_as_running_without_run_reports(tmp_path):
    sweep_dir = tmp_path / "2026-01-02" / "03-04-05-000001"
    config = hydra_config(sweep_dir, ["aug=none,rotate,hflip"])
    callback = LeaderboardCallback(reload_seconds=7)
    callback.on_multirun_start(config)
    fake_run(sweep_dir / "0", overrides=["aug=none"], job_num=0, predictions=False)
    callback.on_job_end(config, job_return=None)

    page = sweep_dir / artifacts.LEADERBOARD
    state = page_data(page)["live"]
    assert (state["state"], state["done"], state["expected"]) == ("running", 1, 3)
    assert (state["reload_seconds"], state["quiet_after"]) == (7, live.QUIET_FLOOR_SECONDS)
    assert "1 of 3 jobs done" in page.read_text()
    assert (sweep_dir / artifacts.LEADERBOARD_CSV).is_file()
    assert not (sweep_dir / "0" / artifacts.RUN_REPORT).exists()  # the quick rewrite skips them

    fake_run(sweep_dir / "1", overrides=["aug=rotate"], job_num=1, predictions=False)
    fake_run(sweep_dir / "2", overrides=["aug=hflip"], job_num=2, status="running")
    callback.on_job_end(config, job_return=None)
    assert page_data(page)["live"]["done"] == 2  # job 2 is still running

    callback.on_multirun_end(config)
    assert page_data(page)["live"]["state"] == "ended"
    assert "Sweep ended" in page.read_text()
    assert (sweep_dir / "0" / artifacts.RUN_REPORT).is_file()


def test_a_single_run_does_not_write_a_leaderboard(tmp_path):
    config = hydra_config(tmp_path / "sweep", [])
    config.hydra.mode = RunMode.RUN
    LeaderboardCallback().on_job_end(config, job_return=None)
    assert not (tmp_path / "sweep").exists()


def test_a_killed_sweep_reads_as_stopped_when_its_process_is_gone(tmp_path):
    sweep_dir = sweep(tmp_path, "2026-01-02/03-04-05-000001", {0: {}, 1: {"status": "running"}})
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    live.start(sweep_dir, expected=4, reload_seconds=10)
    state = (
        (sweep_dir / artifacts.SWEEP_STATE)
        .read_text()
        .replace(f'"pid": {os.getpid()}', f'"pid": {gone.pid}')
    )
    (sweep_dir / artifacts.SWEEP_STATE).write_text(state)
    assert live.read(sweep_dir)["state"] == "stopped"
    report.write_leaderboard(sweep_dir, run_reports=False)
    html = (sweep_dir / artifacts.LEADERBOARD).read_text()
    assert 'data-state="stopped"' in html and "this page is incomplete" in html


def _rewrite(sweep_dir: Path) -> None:
    config = hydra_config(sweep_dir, [])
    LeaderboardCallback().on_job_end(config, job_return=None)


def test_jobs_ending_at_once_leave_a_whole_page_and_no_temporary_files(tmp_path):
    sweep_dir = make_runs(tmp_path, 60)
    live.start(sweep_dir, expected=60, reload_seconds=10)
    context = multiprocessing.get_context("fork")
    jobs = [context.Process(target=_rewrite, args=(sweep_dir,)) for _ in range(4)]
    for job in jobs:
        job.start()
    for job in jobs:
        job.join(120)
        assert job.exitcode == 0
    assert len(page_data(sweep_dir / artifacts.LEADERBOARD)["rows"]["run"]) == 60
    assert sorted(p.name for p in sweep_dir.iterdir() if p.name.startswith(".")) == [
        artifacts.SWEEP_LOCK
    ]


def test_one_rewrite_at_500_runs_takes_about_a_second_or_less(tmp_path):
    sweep_dir = make_runs(tmp_path, 500)
    live.start(sweep_dir, expected=500, reload_seconds=10)
    _rewrite(sweep_dir)  # warm: imports, fonts
    start = time.perf_counter()
    _rewrite(sweep_dir)
    assert time.perf_counter() - start < 3.0  # about 0.4 s on a quiet 2-core machine


def test_a_sweep_refused_before_its_first_job_leaves_no_folder(tmp_path):
    sweep_dir = tmp_path / "multirun" / "2026-01-02" / "03-04-05-000001"
    callback = LeaderboardCallback()
    callback.on_multirun_start(hydra_config(sweep_dir, ["aug=none,rotate"]))
    assert (sweep_dir / artifacts.SWEEP_STATE).is_file()
    try:
        raise ValueError("the sweeper refused its settings")
    except ValueError:
        callback.on_multirun_end(hydra_config(sweep_dir, ["aug=none,rotate"]))
    assert not sweep_dir.exists() and (tmp_path / "multirun" / "2026-01-02").is_dir()


def test_a_multirun_that_ends_with_an_exception_in_flight_is_marked_stopped(tmp_path):
    sweep_dir = tmp_path / "sweep"
    config = hydra_config(sweep_dir, ["aug=none,rotate"])
    callback = LeaderboardCallback()
    callback.on_multirun_start(config)
    fake_run(sweep_dir / "0", overrides=["aug=none"], job_num=0, predictions=False)
    try:
        raise KeyboardInterrupt  # Ctrl-C: Hydra calls on_multirun_end in a finally block
    except KeyboardInterrupt:
        callback.on_multirun_end(config)
    html = (sweep_dir / artifacts.LEADERBOARD).read_text()
    assert page_data(sweep_dir / artifacts.LEADERBOARD)["live"]["state"] == "stopped"
    assert "Sweep stopped before it ended" in html and "1 of 2 jobs done" in html


def test_a_multirun_refused_before_its_output_folder_exists_writes_nothing(tmp_path, caplog):
    config = hydra_config(tmp_path / "unmade", ["aug=none,rotate"])
    LeaderboardCallback().on_multirun_end(config)  # OutputDirCallback exited first
    assert not (tmp_path / "unmade").exists() and caplog.records == []


def test_a_rewrite_re_reads_only_the_runs_whose_files_changed(tmp_path, monkeypatch):
    sweep_dir = make_runs(tmp_path, 20)
    live.start(sweep_dir, expected=20, reload_seconds=10)
    _rewrite(sweep_dir)
    read, real = [], collect.read_run
    monkeypatch.setattr(collect, "read_run", lambda run_dir: read.append(run_dir) or real(run_dir))
    metrics = sweep_dir / "3" / "metrics.json"
    metrics.write_text(json.dumps(json.loads(metrics.read_text()) | {"val_acc": 0.5}))
    _rewrite(sweep_dir)
    assert read == [sweep_dir / "3"]
    rows = list(csv.DictReader((sweep_dir / artifacts.LEADERBOARD_CSV).open()))
    assert [float(r["val_acc"]) for r in rows if r["path"] == "3"] == [0.5]
