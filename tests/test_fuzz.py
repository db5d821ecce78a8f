"""Hostile values in config keys: each is refused with one line (exit 2) or runs (exit 0); and
hostile conditions: two writers in one folder, a full disk, impossible thread counts, files that
are not journals, a sweep stopped by SIGTERM, a study named like a path.

A seeded draw of (key, value) pairs: types, signs, huge numbers, special characters. Many pairs
are checked in-process by composing and validating the config; a few go through the CLI, which
must answer with exit status 0 or 2, no traceback, and no change outside the run's own new folder.
"""

from __future__ import annotations

import errno
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
from pathlib import Path

import optuna
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.errors import HydraException

from mnist_sweep import artifacts, models, report
from mnist_sweep.config import validate
from mnist_sweep.data import load_splits
from mnist_sweep.engine import evaluate
from mnist_sweep.errors import ConfigError, WriteError
from mnist_sweep.report.__main__ import main as report_main
from mnist_sweep.run import execute
from tests.conftest import CONF, DATA_ROOT, QUICK, run_module, signal_after_epoch, start
from tests.helpers.runs import fake_run
from tests.helpers.studies import make_study

# Config keys, and whether their node is a list (a mapping given for a list is Hydra's own merge
# error, a message of its own with exit status 1, and is not drawn). data.root and data.sources
# are left out: a valid new value there fetches MNIST anew.
KEYS = {
    "trainer.epochs": False,
    "trainer.batch_size": False,
    "trainer.seed": False,
    "trainer.label_smoothing": False,
    "trainer.grad_clip": False,
    "trainer.ema": False,
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


# Concurrency and filesystem faults: two writers, a full disk, impossible thread counts, files
# that are not journals, a sweep stopped by SIGTERM, a study named like a path.


def disk_full_for(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """Every atomic write of a file called ``name`` fails as on a full disk, at its rename."""
    real = os.replace

    def full(src: str, dst: str) -> None:
        if str(dst).endswith(name):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(src, dst)

    monkeypatch.setattr(artifacts.os, "replace", full)


def test_of_two_runs_started_into_one_folder_one_trains_and_owns_every_file(tmp_path, mnist_root):
    folder = tmp_path / "shared"
    procs = [
        start([*QUICK, f"trainer.seed={s}", f"hydra.run.dir={folder}"], tmp_path) for s in (1, 2)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    codes = sorted(p.returncode for p in procs)
    assert codes == [0, 2], outs
    loser = outs[[p.returncode for p in procs].index(2)]
    # refused while the winner trains, or, when it started late, because the winner is done
    assert (
        "is in use by another run or sweep (process" in loser[1]
        or "already holds a run" in loser[1]
    )
    assert "Traceback" not in loser[0] + loser[1]
    metrics = json.loads((folder / "metrics.json").read_text())
    winner = metrics["seed"]
    assert f"trainer.seed={winner}" in (folder / ".hydra" / "overrides.yaml").read_text()
    model = models.load(folder / "model.pt")
    splits = load_splits(mnist_root, mean=0.1307, std=0.3081)
    model.to(memory_format=torch.channels_last)  # as the run trained and evaluated it
    again = evaluate(model, splits.test_x, splits.test_y, metrics["precision_used"])
    assert again.acc == pytest.approx(metrics["test_acc"], abs=1e-4)


def small_filesystem(path: Path, kib: int) -> bool:
    """A tmpfs of ``kib`` KiB mounted at ``path`` where this process may mount one."""
    path.mkdir(parents=True)
    mount = shutil.which("mount")
    done = subprocess.run(
        [mount or "mount", "-t", "tmpfs", "-o", f"size={kib}k", "tmpfs", str(path)],
        capture_output=True,
    )
    return done.returncode == 0


def test_a_disk_that_fills_during_training_fails_the_run_in_one_line(cli, tmp_path):
    disk = tmp_path / "disk"
    if not small_filesystem(disk, 64):
        pytest.skip("no tmpfs can be mounted here; the simulated full disk below still runs")
    try:
        done = cli(*QUICK, f"hydra.run.dir={disk / 'run'}")
        run = disk / "run"
        assert done.returncode == 2, done.stderr[-2000:]
        assert "Traceback" not in done.stdout + done.stderr
        error = [
            line for line in (done.stdout + done.stderr).splitlines() if "could not write" in line
        ]
        assert len(error) == 1 and "No space left on device" in error[0]
        assert f"{run}/" in error[0] and "free space" in error[0]
        assert not [p for p in run.iterdir() if p.name.startswith(f".{p.name}.")]
        record = json.loads((run / "metrics.json").read_text())
        assert record["status"] == "failed" and "could not write" in record["error"]
    finally:
        subprocess.run(["umount", str(disk)], check=False)


def test_a_simulated_full_disk_fails_the_run_and_leaves_no_half_file(
    make_cfg, tmp_path, monkeypatch
):
    disk_full_for(monkeypatch, "model.pt")
    run = tmp_path / "run"
    with pytest.raises(WriteError, match=r"could not write .*model\.pt: No space left on device"):
        execute(make_cfg(), run)
    assert not (run / "model.pt").exists()
    assert not [p for p in run.iterdir() if p.name.startswith(".model.pt.")]
    assert json.loads((run / "metrics.json").read_text())["status"] == "failed"


@pytest.mark.parametrize("threads", [1000, os.cpu_count() + 1])
def test_more_threads_than_cores_are_refused_before_training(make_cfg, tmp_path, threads):
    with pytest.raises(ConfigError, match=rf"device.threads={threads} is not allowed.*at most"):
        execute(make_cfg(f"device.threads={threads}"), tmp_path / "run")
    assert not (tmp_path / "run" / "model.pt").exists()


def test_zero_or_negative_threads_are_refused(make_cfg):
    for threads in (0, -1):
        with pytest.raises(ConfigError, match=rf"device.threads={threads} is not allowed"):
            validate(make_cfg(f"device.threads={threads}"))


@pytest.mark.parametrize("kind", ["sqlite", "damaged sqlite", "text", "torn first record"])
def test_repair_refuses_what_is_not_a_repairable_journal_and_writes_nothing(tmp_path, kind):
    path = tmp_path / "study.db"
    if "sqlite" in kind:
        optuna.create_study(storage=f"sqlite:///{path}", study_name="s").optimize(
            lambda t: t.suggest_float("x", 0, 1), n_trials=2
        )
        if kind == "damaged sqlite":
            path.write_bytes(path.read_bytes()[:2000])
    elif kind == "text":
        path.write_text("just some notes\n")
    else:
        path.write_text('{"op_code": 0, "worker_id": "w", "study_na')
    before = sorted(tmp_path.iterdir())
    done = run_module("mnist_sweep.storage", "repair", str(path), cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    expected = {
        "sqlite": "is a SQLite study file, not a journal",
        "damaged sqlite": "is damaged",
        "text": "is not an Optuna journal file",
        "torn first record": "no complete journal record",
    }[kind]
    assert expected in done.stderr
    assert sorted(tmp_path.iterdir()) == before  # no .repaired file, empty or not


def test_a_joblib_sweep_stopped_by_sigterm_records_its_jobs_as_interrupted(tmp_path):
    command = ["-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", *QUICK]
    command += ["data.train_subset=8192", "trainer.epochs=20", "trainer.seed=0,1"]
    done = signal_after_epoch(command, tmp_path, "multirun/*/*/*/metrics.json", signal.SIGTERM)
    assert done.returncode == 143, done.stderr[-2000:]
    assert "Traceback" not in done.stdout + done.stderr
    records = [json.loads(p.read_text()) for p in tmp_path.glob("multirun/*/*/*/metrics.json")]
    assert len(records) == 2
    assert {r["status"] for r in records} == {"interrupted"}
    assert all("interrupted by SIGTERM" in r["error"] for r in records)
    board = next(tmp_path.glob("multirun/*/*/leaderboard.csv")).read_text()
    assert board.count("interrupted") >= 2


def test_a_sweep_of_no_job_is_refused_and_leaves_no_folder(cli, tmp_path):
    done = cli("-m", *QUICK, "trainer.seed=range(0,0)", "hydra.sweep.dir=empty")
    assert done.returncode == 2 and "the sweep has no job" in done.stderr
    assert not (tmp_path / "empty").exists()


def test_a_study_named_like_a_path_gets_a_page_inside_the_output_folder(tmp_path):
    url = make_study(tmp_path, n=3, name="widths")
    with sqlite3.connect(url.removeprefix("sqlite:///")) as db:  # as another client named it
        db.execute("UPDATE studies SET study_name = '../../x'")
    db.close()
    out = tmp_path / "pages" / "deep"
    page = report.write_study_page(url, out=out, run_reports=False)
    assert page.parent == out and page.name == "_.._x.html"
    assert not list(tmp_path.glob("x.html")) and not list(tmp_path.parent.glob("x.html"))


def test_a_board_whose_run_reports_cannot_be_written_is_not_written(tmp_path, monkeypatch, capsys):
    sweep = tmp_path / "sweep"
    for n in range(2):
        fake_run(sweep / str(n), test_acc=0.99)
    disk_full_for(monkeypatch, "report.html")
    assert report_main([str(sweep)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "could not write" in err[0] and "report.html" in err[0]
    assert not (sweep / "leaderboard.csv").exists() and not (sweep / "leaderboard.html").exists()
