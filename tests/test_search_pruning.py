"""The search sweeper's pruning, seed repeats, refilled slots, heartbeat and its bad input."""

from __future__ import annotations

import csv
import json
import statistics
import time
from pathlib import Path

import optuna
import pytest
from optuna.pruners import ThresholdPruner
from optuna.storages import RDBStorage
from optuna.trial import TrialState

from mnist_sweep import artifacts
from mnist_sweep.search.monitor import EpochMonitor
from mnist_sweep.trial_attrs import PRUNED_AT
from tests.conftest import PRUNE_ALL, kill_while_training, run_module, trial_metrics
from tests.test_search import SEARCH, load, sweep_dirs


def test_a_pruned_trial_stops_keeps_its_files_and_the_study_has_its_curve(cli, tmp_path):
    done = cli(*SEARCH, *PRUNE_ALL, "hydra.sweeper.n_trials=2")
    assert done.returncode == 0, done.stderr[-3000:]
    trials = load(tmp_path).trials
    assert [t.state for t in trials] == [TrialState.PRUNED] * 2
    for t in trials:
        m = trial_metrics(t)
        assert (m["status"], m["epochs"], m["epochs_run"]) == ("pruned", 2, 1)
        assert t.intermediate_values == {1: m["val_acc"]} and t.user_attrs[PRUNED_AT] == 1
        run_dir = Path(t.user_attrs["run_dir"])
        assert (run_dir / "model.pt").is_file() and (run_dir / artifacts.RUN_REPORT).is_file()
        history = list(csv.DictReader((run_dir / "history.csv").open()))
        assert len(history) == 1
    rows = list(csv.DictReader((sweep_dirs(tmp_path)[0] / artifacts.LEADERBOARD_CSV).open()))
    assert [r["status"] for r in rows] == ["pruned", "pruned"]


def test_trials_in_joblib_workers_are_pruned_and_each_slot_refills_on_its_own(cli, tmp_path):
    args = [a for a in SEARCH if not a.startswith("device.threads")]
    done = cli(
        *args,
        *PRUNE_ALL,
        "hydra/launcher=joblib",
        "hydra.sweeper.n_jobs=2",
        "hydra.sweeper.n_trials=3",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("is launching 1 jobs") == 3  # a trial per launch, 2 workers
    trials = load(tmp_path).trials
    assert [t.state for t in trials] == [TrialState.PRUNED] * 3
    assert all(t.intermediate_values == {1: trial_metrics(t)["val_acc"]} for t in trials)


def test_each_proposal_trains_once_per_seed_and_the_objective_is_their_mean(cli, tmp_path):
    done = cli(*SEARCH, "hydra.sweeper.seeds=[3,4]", "hydra.sweeper.n_trials=1")
    assert done.returncode == 0, done.stderr[-3000:]
    (trial,) = load(tmp_path).trials
    runs = [
        json.loads((Path(d) / "metrics.json").read_text()) for d in trial.user_attrs["run_dirs"]
    ]
    assert [m["seed"] for m in runs] == [3, 4]
    values = [m["val_acc"] for m in runs]
    assert trial.value == pytest.approx(statistics.fmean(values))
    assert trial.user_attrs["seed_values"] == {"3": values[0], "4": values[1]}
    assert trial.user_attrs["seed_std"] == pytest.approx(statistics.pstdev(values))


def test_seed_jobs_report_their_running_mean_and_one_prune_stops_every_seed(tmp_path):
    storage = RDBStorage(f"sqlite:///{tmp_path}/s.db")
    study = optuna.create_study(storage=storage, pruner=ThresholdPruner(lower=0.5))
    trial = study.ask()
    trial_id = storage.get_trial_id_from_study_id_trial_number(
        storage.get_study_id_from_name(study.study_name), trial.number
    )
    seed0, seed1 = (EpochMonitor(study, storage, trial_id, s, [0, 1], epochs=3) for s in (0, 1))
    assert seed0({"epoch": 1, "val_acc": 0.8}) is False  # only seed 0 has reached epoch 1
    assert seed1({"epoch": 1, "val_acc": 0.6}) is False
    assert storage.get_trial(trial_id).intermediate_values == {1: pytest.approx(0.7)}
    assert seed0({"epoch": 2, "val_acc": 0.2}) is True  # the mean of one seed is below 0.5
    assert seed1({"epoch": 2, "val_acc": 0.9}) is True  # mean 0.55, but the trial is pruned
    frozen = storage.get_trial(trial_id)
    assert frozen.user_attrs[PRUNED_AT] == 2 and frozen.intermediate_values[2] == 0.55


def test_a_killed_search_re_runs_its_lost_trial_and_leaves_none_running(mnist_root, tmp_path):
    command = [*SEARCH, "trainer.epochs=3", "hydra.sweeper.heartbeat_interval=1"]
    command.append("hydra.sweeper.n_trials=1")
    kill_while_training(command, tmp_path)
    assert (tmp_path / "studies" / "widths.db").exists()
    (lost,) = load(tmp_path).trials
    assert lost.state == TrialState.RUNNING
    time.sleep(2.5)  # past the grace period: twice the heartbeat interval

    again = run_module("mnist_sweep", *command, cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    failed, retried = load(tmp_path).trials
    assert failed.state == TrialState.FAIL and retried.state == TrialState.COMPLETE
    assert retried.params == lost.params and retried.system_attrs["failed_trial"] == lost.number


@pytest.mark.parametrize(
    ("preset", "overrides", "messages"),
    [
        ("widths", ["hydra/sweeper/pruner=medain"], ["hydra/sweeper/pruner=medain is not a"]),
        ("pareto", ["hydra/sweeper/pruner=median"], ["cannot prune a multi-objective study"]),
        ("widths", ["hydra.sweeper.seeds=[]"], ["hydra.sweeper.seeds=[] must list distinct seeds"]),
        (  # every bad setting is named, in the one line
            "widths",
            ["hydra.sweeper.seeds=[1,2,1]", "hydra.sweeper.n_jobs=0",
             "hydra.sweeper.heartbeat_interval=0", "hydra.sweeper.timeout=-5"],
            ["hydra.sweeper.seeds=[1, 2, 1] must list", "hydra.sweeper.n_jobs=0 must be 1 or more",
             "heartbeat_interval=0 must be a whole", "timeout=-5 must be a number of seconds"],
        ),
    ],
)  # fmt: skip
def test_bad_pruning_seed_and_slot_settings_are_refused_before_any_training(
    cli, tmp_path, preset, overrides, messages
):
    done = cli("-m", f"hparams_search={preset}", *SEARCH[2:], *overrides)
    out = done.stdout + done.stderr
    assert done.returncode == 2, out[-3000:]
    assert all(m in out for m in messages) and "Traceback" not in out
    assert len(out.strip().splitlines()) == 1
    assert not list(tmp_path.glob("multirun/*/*/[0-9]*"))
