"""`python -m mnist_sweep.confirm`: a study's best trials re-trained on held-out seeds."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from mnist_sweep import artifacts, trial_attrs
from mnist_sweep.config import recipe, to_plain
from tests.conftest import QUICK, run_module, signal_after_epoch

SEARCH = ["-m", "hparams_search=widths", *QUICK, "data.val_size=1000", "hydra.sweeper.n_trials=2"]
SMALL = ["data.train_subset=1024", "trainer.epochs=1", "trainer.batch_size=128", "device.threads=1"]


def confirm(cwd: Path, mnist_root: Path, *args: str) -> subprocess.CompletedProcess:
    return run_module("mnist_sweep.confirm", *args, cwd=cwd)


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory, mnist_root) -> Path:
    """A finished 2-trial width search (seed 0) in its own folder."""
    cwd = tmp_path_factory.mktemp("study")
    done = run_module("mnist_sweep", *SEARCH, cwd=cwd)
    assert done.returncode == 0, done.stderr[-3000:]
    return cwd


def test_the_best_trial_is_retrained_on_held_out_seeds_and_recorded(study_dir, mnist_root):
    url = f"sqlite:///{study_dir}/studies/widths.db"
    done = confirm(study_dir, mnist_root, url, "--seeds", "7", "8", "--set", *SMALL)
    assert done.returncode == 0, done.stderr[-3000:]
    study = optuna.load_study(study_name="widths", storage=url)
    best = max(study.trials, key=lambda t: t.value)
    confirmed = study.user_attrs[f"confirmed/{best.number}"]
    assert confirmed["seeds"] == [7, 8] and len(confirmed["test_acc"]) == 2
    assert confirmed["worst"] == min(confirmed["test_acc"])
    assert [k for k in study.user_attrs if k.startswith("confirmed/")] == [
        f"confirmed/{best.number}"
    ]

    sweep = Path(confirmed["sweep"])
    runs = [json.loads((sweep / str(j) / "metrics.json").read_text()) for j in (0, 1)]
    assert [r["seed"] for r in runs] == [7, 8]
    assert [(r["study"], r["trial"]) for r in runs] == [("widths", best.number)] * 2
    assert [r["test_acc"] for r in runs] == confirmed["test_acc"]
    trial_widths = [best.params[k] for k in ("search.w1", "search.w2", "search.w3", "search.w4")]
    assert all(f"search.w1={trial_widths[0]}" in r["overrides"] for r in runs)
    assert all("data.val_size=0" in r["overrides"] and r["val_acc"] is None for r in runs)
    assert (sweep / artifacts.LEADERBOARD).is_file()
    assert f"| {best.number} |" in done.stdout


def test_trials_names_which_trials_are_confirmed_and_a_second_confirmation_keeps_the_first(
    study_dir, mnist_root
):
    url = f"sqlite:///{study_dir}/studies/widths.db"
    study = optuna.load_study(study_name="widths", storage=url)
    worst = min(study.trials, key=lambda t: t.value)
    done = confirm(study_dir, mnist_root, url, "--trials", str(worst.number), "--seeds", "9",
                   "--set", *SMALL)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    confirmed = optuna.load_study(study_name="widths", storage=url).user_attrs
    assert confirmed[f"confirmed/{worst.number}"]["seeds"] == [9]
    assert confirmed[f"confirmed/{worst.number}"]["set"] == SMALL
    assert f"| {worst.number} |" in done.stdout

    again = confirm(study_dir, mnist_root, url, "--trials", str(worst.number), "--seeds", "10",
                    "--set", *SMALL, "trainer.epochs=2")  # fmt: skip
    assert again.returncode == 0, again.stderr[-3000:]
    both = optuna.load_study(study_name="widths", storage=url).user_attrs
    assert both[f"confirmed/{worst.number}"]["seeds"] == [9]  # the earlier record is kept
    assert both[f"confirmed/{worst.number}/2"]["seeds"] == [10]
    assert both[f"confirmed/{worst.number}/2"]["set"] == [*SMALL, "trainer.epochs=2"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["sqlite:///nowhere/none.db"], "does not exist"),
        (["STUDY", "--trials", "99"], "--trials 99: no such completed trial"),
        (["STUDY", "--study", "nope"], "holds no study 'nope'"),
        (["STUDY", "--seeds", "0", "9"], "overlap the seeds the search trained with ([0])"),
        (["STUDY", "--seeds", "5", "5"], "each once"),
        (["STUDY", "--seeds", "-1"], "--seeds=-1 is not allowed"),
        (["STUDY", "--seeds", "7", "--set", "trainer.epochs=0"], "trainer.epochs=0 is not allowed"),
        (["STUDY", "--seeds", "7", "--set", "nosuch.key=1"], "cannot be composed"),
    ],
)
def test_bad_confirm_input_gets_one_line_and_writes_nothing(study_dir, mnist_root, args, message):
    url = f"sqlite:///{study_dir}/studies/widths.db"
    attrs = (
        optuna.load_study(study_name="widths", storage=url).user_attrs if "STUDY" in args else {}
    )
    sweeps = sorted(study_dir.glob("multirun/*/*"))
    done = confirm(study_dir, mnist_root, *[url if a == "STUDY" else a for a in args])
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr
    assert len([line for line in done.stderr.splitlines() if "error" in line]) == 1
    assert sorted(study_dir.glob("multirun/*/*")) == sweeps  # no job started
    if attrs:
        assert optuna.load_study(study_name="widths", storage=url).user_attrs == attrs


def test_a_confirmation_whose_jobs_fail_stores_nothing_and_exits_non_zero(study_dir, mnist_root):
    url = f"sqlite:///{study_dir}/studies/widths.db"
    before = optuna.load_study(study_name="widths", storage=url).user_attrs
    too_many = f"device.threads={(os.cpu_count() or 1) + 1}"  # refused by each job, not before
    small = [o for o in SMALL if not o.startswith("device.threads=")]
    done = confirm(study_dir, mnist_root, url, "--seeds", "21", "22", "--set", *small, too_many)
    assert done.returncode == 1, done.stderr[-2000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: 2 of 2 confirmation jobs did not complete") and "seed 21" in last
    assert optuna.load_study(study_name="widths", storage=url).user_attrs == before


def test_a_study_with_no_completed_trial_is_refused(tmp_path, mnist_root):
    url = f"sqlite:///{tmp_path}/empty.db"
    study = optuna.create_study(study_name="empty", storage=url)
    study.tell(study.ask(), state=optuna.trial.TrialState.FAIL)
    done = confirm(tmp_path, mnist_root, url)
    assert done.returncode == 2 and "no completed trial" in done.stderr


def test_a_preset_written_from_a_confirmed_trial_trains_its_confirmation_recipe(
    study_dir, mnist_root, tmp_path
):
    url = f"sqlite:///{study_dir}/studies/widths.db"
    study = optuna.load_study(study_name="widths", storage=url)
    number = max(study.trials, key=lambda t: t.value).number
    done = confirm(study_dir, mnist_root, url, "--trials", str(number), "--seeds", "11",
                   "--set", *SMALL)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    attrs = optuna.load_study(study_name="widths", storage=url).user_attrs
    confirmed = trial_attrs.latest_confirmation(attrs, number)  # it may have been confirmed before
    out = tmp_path / "experiment" / "found.yaml"
    out.parent.mkdir()
    script = Path(__file__).resolve().parents[1] / "scripts" / "preset_from_trial.py"
    done = subprocess.run(
        [sys.executable, str(script), url, "--trial", str(number), "--name", "found",
         "--out", str(out)],
        capture_output=True, text=True, cwd=study_dir, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    header = " ".join(line[2:] for line in out.read_text().splitlines() if line.startswith("# "))
    assert f"trial {number}:" in header and "--seeds 11 " in header and "seeds 0)" in header
    run_dir = Path(confirmed["sweep"]) / "0"
    trained = to_plain(OmegaConf.load(run_dir / ".hydra" / "config.yaml"))
    with initialize_config_dir(config_dir=str(Path(__file__).resolve().parents[1] / "conf")):
        preset = to_plain(
            compose(
                "config", overrides=["experiment=found", f"hydra.searchpath=[file://{tmp_path}]"]
            )
        )
    assert recipe(preset) == recipe(trained)
    assert recipe(preset)["model"]["widths"] != [8, 16, 16, 16, 16, 16]  # the trial's, not lean's


def test_a_stopped_confirmation_stores_the_seeds_it_finished_and_says_so_in_one_line(
    study_dir, tmp_path, mnist_root
):
    shutil.copy(study_dir / "studies" / "widths.db", tmp_path / "widths.db")
    url = f"sqlite:///{tmp_path}/widths.db"
    before = set(optuna.load_study(study_name="widths", storage=url).user_attrs)
    command = [url, "--seeds", "7", "8", "--set", *SMALL, "trainer.epochs=20"]
    done = signal_after_epoch(
        command, tmp_path, "multirun/*/*/1/metrics.json", signal.SIGTERM, "mnist_sweep.confirm"
    )
    assert done.returncode == 143, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]  # after the stopped run's own line
    assert last.startswith("error: interrupted by SIGTERM; every finished run keeps its files")
    study = optuna.load_study(study_name="widths", storage=url)
    (key,) = [k for k in study.user_attrs if k.startswith("confirmed/") and k not in before]
    confirmed = study.user_attrs[key]
    assert confirmed["seeds"] == [7] and len(confirmed["test_acc"]) == 1
    sweep = Path(confirmed["sweep"])
    statuses = [json.loads((sweep / j / "metrics.json").read_text())["status"] for j in "01"]
    assert statuses == ["completed", "interrupted"]
    assert (sweep / artifacts.LEADERBOARD).is_file()
