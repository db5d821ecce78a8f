"""`python -m mnist_sweep -m ...` end to end: the callback leaves a leaderboard in the sweep dir.

One sweep trains (a 512-image slice, one epoch, one thread); the others are refused by the budget
before training, which makes glob and range sweeps cheap to run for real.
"""

from __future__ import annotations

import csv
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from mnist_sweep import artifacts
from mnist_sweep.report.__main__ import main
from tests.conftest import TINY, sweep_dirs

WIDE = "[64,64,64,64,64,64]"
LEAN_WIDTHS = "[8,16,16,16,16,16]"


def leaderboard(sweep_dir: Path) -> list[dict[str, str]]:
    return list(csv.DictReader((sweep_dir / artifacts.LEADERBOARD_CSV).open()))


def test_sweep_ends_with_a_leaderboard_and_an_over_budget_job_does_not_stop_it(cli, tmp_path):
    done = cli("-m", f"model.widths={WIDE},{LEAN_WIDTHS}", *TINY)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    (sweep_dir,) = sweep_dirs(tmp_path)
    assert (sweep_dir / artifacts.LEADERBOARD).is_file()
    assert f"leaderboard: {sweep_dir.relative_to(tmp_path)}/{artifacts.LEADERBOARD}" in done.stdout
    assert (
        "<strong>Sweep ended:</strong> 2 of 2 jobs done."
        in (sweep_dir / artifacts.LEADERBOARD).read_text()
    )

    refused, trained = leaderboard(sweep_dir)
    assert (refused["job_num"], refused["status"]) == ("0", "over budget")
    assert refused["key_changes"] == f"model.widths={WIDE}"
    assert refused["detail"].startswith("refused before training")
    assert (trained["job_num"], trained["status"]) == ("1", "below target")
    assert 0 < float(trained["test_acc"]) < 0.994
    for job in ("0", "1"):
        assert (sweep_dir / job / artifacts.RUN_REPORT).is_file()
    assert "training curves" in (sweep_dir / "1" / artifacts.RUN_REPORT).read_text().lower()


def test_glob_and_range_sweeps_started_together_keep_their_own_dirs_and_leaderboards(cli, tmp_path):
    refuse = "budget.max_params=1"  # every job is refused before training: seconds, not minutes
    sweeps = [
        ("-m", "aug=glob(*)", refuse, "device=cpu"),
        ("-m", "trainer.seed=range(0,3)", "aug=rotate,vflip", refuse, "device=cpu"),
    ]
    with ThreadPoolExecutor(len(sweeps)) as pool:
        results = list(pool.map(lambda args: cli(*args), sweeps))
    for done in results:  # no job trained: each sweep says so in one line, exit status 2
        assert done.returncode == 2, done.stderr
        (line,) = [x for x in done.stderr.splitlines() if x.startswith("error:")]
        assert "no job of this sweep trained to its end" in line and "over budget" in line

    dirs = sweep_dirs(tmp_path)
    assert len(dirs) == 2
    boards = [leaderboard(d) for d in dirs]
    seeds = next(b for b in boards if any("trainer.seed" in r["key_changes"] for r in b))
    augs = next(b for b in boards if b is not seeds)
    assert sorted(r["key_changes"] for r in augs) == [
        f"aug={a}" for a in ("affine", "hflip", "intensity", "none", "rotate", "vflip")
    ]
    assert [r["key_changes"] for r in seeds] == [
        f"trainer.seed={s}; aug={a}" for s in range(3) for a in ("rotate", "vflip")
    ]
    assert {r["status"] for r in augs + seeds} == {"over budget"}

    assert main([str(tmp_path / "multirun")]) == 0
    everything = leaderboard(tmp_path / "multirun")
    assert len(everything) == len(augs) + len(seeds) == 12
    assert [r["run"] for r in everything] == [str(n) for n in range(1, 13)]


def test_a_sweep_over_the_multiply_add_budget_trains_nothing_and_says_so_in_one_line(cli, tmp_path):
    # 8 wide at 28x28 takes 972,160 multiply-adds per image, 4 wide fewer than 700,000
    done = cli("-m", "model.widths=[8,16,20,20,20,16],[4,16,20,20,20,16]", "budget.max_macs=1")
    assert done.returncode == 2
    assert "Traceback" not in done.stdout + done.stderr
    (line,) = [x for x in done.stderr.splitlines() if x.startswith("error:")]
    assert "no job of this sweep trained to its end (2 over budget)" in line
    (sweep_dir,) = sweep_dirs(tmp_path)
    rows = leaderboard(sweep_dir)
    assert [r["status"] for r in rows] == ["over budget", "over budget"]
    assert all("over budget.max_macs=1;" in r["detail"] for r in rows)
    assert "972,160 multiply-adds per image" in rows[0]["detail"]
    assert not list(sweep_dir.glob("*/history.csv")) and not list(sweep_dir.glob("*/model.pt"))


def test_a_diverged_job_gets_its_own_level_and_the_sweep_goes_on(cli, tmp_path):
    done = cli("-m", "optim.lr=1e6,0.05", *TINY)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    (sweep_dir,) = sweep_dirs(tmp_path)
    diverged, trained = leaderboard(sweep_dir)
    assert diverged["status"] == "diverged" and "in epoch 1 of 1" in diverged["detail"]
    assert diverged["test_acc"] == ""  # no accuracy for a diverged run, not NaN
    assert trained["status"] == "below target" and float(trained["test_acc"]) > 0
    assert (
        '<span class="badge diverged">1 diverged</span>'
        in (sweep_dir / artifacts.LEADERBOARD).read_text()
    )


def test_a_sweep_into_a_folder_holding_another_sweep_is_refused_and_changes_nothing(cli, tmp_path):
    refuse = "budget.max_params=1"  # quick: every job is refused before training
    first = cli("-m", "trainer.seed=0,1", refuse, "device=cpu", "hydra.sweep.dir=sweep")
    assert first.returncode == 2, first.stderr
    sweep = tmp_path / "sweep"
    before = {str(p): p.read_bytes() for p in sweep.rglob("*") if p.is_file()}
    again = cli("-m", "trainer.seed=2,3,4", refuse, "device=cpu", "hydra.sweep.dir=sweep")
    assert again.returncode == 2
    (line,) = again.stderr.splitlines()
    assert "hydra.sweep.dir=sweep already holds a sweep" in line
    assert {str(p): p.read_bytes() for p in sweep.rglob("*") if p.is_file()} == before
    assert not (sweep / "2").exists()


def test_a_sweep_in_which_every_job_failed_exits_non_zero_with_one_line(cli, tmp_path):
    done = cli("-m", "optim.lr=1e6,1e7", *TINY)  # both diverge in their first epoch
    assert done.returncode == 1
    assert "Traceback" not in done.stdout + done.stderr
    (line,) = [x for x in done.stderr.splitlines() if x.startswith("error:")]
    assert "no job of this sweep trained to its end (2 diverged)" in line
    (sweep_dir,) = sweep_dirs(tmp_path)
    assert f"{sweep_dir.relative_to(tmp_path)}/{artifacts.LEADERBOARD}" in line
