"""`python -m mnist_sweep.confirm`: a study's best trials re-trained on held-out seeds."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import optuna
import pytest

from mnist_sweep import report
from tests.conftest import QUICK, run_module

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
    assert [r["test_acc"] for r in runs] == confirmed["test_acc"]
    trial_widths = [best.params[k] for k in ("search.w1", "search.w2", "search.w3", "search.w4")]
    assert all(f"search.w1={trial_widths[0]}" in r["overrides"] for r in runs)
    assert all("data.val_size=0" in r["overrides"] and r["val_acc"] is None for r in runs)
    assert (sweep / report.LEADERBOARD).is_file()
    assert f"| {best.number} |" in done.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["sqlite:///nowhere/none.db"], "does not exist"),
        (["STUDY", "--study", "nope"], "has no study 'nope'"),
        (["STUDY", "--seeds", "0", "9"], "overlap the seeds the search trained with ([0])"),
        (["STUDY", "--seeds", "5", "5"], "each once"),
    ],
)
def test_bad_confirm_input_gets_one_line(study_dir, mnist_root, args, message):
    url = f"sqlite:///{study_dir}/studies/widths.db"
    done = confirm(study_dir, mnist_root, *[url if a == "STUDY" else a for a in args])
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr


def test_a_study_with_no_completed_trial_is_refused(tmp_path, mnist_root):
    url = f"sqlite:///{tmp_path}/empty.db"
    study = optuna.create_study(study_name="empty", storage=url)
    study.tell(study.ask(), state=optuna.trial.TrialState.FAIL)
    done = confirm(tmp_path, mnist_root, url)
    assert done.returncode == 2 and "no completed trial" in done.stderr
