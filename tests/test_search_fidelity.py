"""Multi-fidelity search: rungs of complete schedules, promotions, resumes, kills, bad input."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from optuna.trial import TrialState

from mnist_sweep.report.collect import collect
from mnist_sweep.report.study import study_view
from mnist_sweep.trial_attrs import PROMOTED_FROM, RUNG
from tests.conftest import kill_while_training, run_module
from tests.test_search import SEARCH, load

# two rungs of complete one-cycle schedules, 1 and 2 epochs; the best third of rung 0 goes on
HALVING = [
    "hydra/sweeper/fidelity=halving",
    "hydra.sweeper.fidelity.rungs=[1,2]",
    "hydra.sweeper.fidelity.reduction_factor=3",
]


def epochs(trial) -> tuple[int, int]:
    """What the trial's job was asked to train, and what it trained."""
    metrics = json.loads((Path(trial.user_attrs["run_dir"]) / "metrics.json").read_text())
    return metrics["epochs"], metrics["epochs_run"]


def test_the_best_third_of_a_rung_is_promoted_and_only_the_top_rung_repeats_seeds(cli, tmp_path):
    done = cli(*SEARCH, *HALVING, "hydra.sweeper.n_trials=4", "hydra.sweeper.seeds=[0,1]")
    assert done.returncode == 0, done.stderr[-3000:]
    trials = load(tmp_path).trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 4
    first, promoted = trials[:3], trials[3]
    best = max(first, key=lambda t: t.value)
    assert all(t.user_attrs[RUNG] == 0 and epochs(t) == (1, 1) for t in first)
    assert (promoted.user_attrs[RUNG], promoted.user_attrs[PROMOTED_FROM]) == (1, best.number)
    assert promoted.params == best.params and epochs(promoted) == (2, 2)
    assert all(list(t.user_attrs["seed_values"]) == ["0"] for t in first)
    per_seed = promoted.user_attrs["seed_values"]
    assert list(per_seed) == ["0", "1"] and len(promoted.user_attrs["run_dirs"]) == 2
    assert promoted.value == pytest.approx(sum(per_seed.values()) / 2)

    view = study_view(load(tmp_path), collect(tmp_path / "multirun"), "val_acc")
    assert view["rungs"] == [
        {"rung": 0, "epochs": 1, "trials": [[t.number, None] for t in first]},
        {"rung": 1, "epochs": 2, "trials": [[promoted.number, best.number]]},
    ]


def test_a_resumed_study_promotes_what_a_killed_worker_left_and_loses_no_finished_trial(
    mnist_root, tmp_path
):
    command = [*SEARCH, *HALVING, "hydra.sweeper.fidelity.rungs=[1,3]"]
    command += ["hydra.sweeper.heartbeat_interval=1"]
    first = run_module("mnist_sweep", *command, "hydra.sweeper.n_trials=3",
                       "hydra.sweep.dir=first", cwd=tmp_path)  # fmt: skip
    assert first.returncode == 0, first.stderr[-3000:]
    finished = load(tmp_path).trials
    best = max(finished, key=lambda t: t.value)

    kill_while_training([*command, "hydra.sweeper.n_trials=1"], tmp_path)  # in the promoted rung
    *kept, lost = load(tmp_path).trials
    assert [(t.number, t.state, t.value) for t in kept] == [
        (t.number, t.state, t.value) for t in finished
    ]
    assert lost.state == TrialState.RUNNING and lost.user_attrs[PROMOTED_FROM] == best.number
    time.sleep(2.5)  # past the grace period: twice the heartbeat interval

    again = run_module("mnist_sweep", *command, "hydra.sweeper.n_trials=1", cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    trials = load(tmp_path).trials
    assert len(trials) == 5 and trials[3].state == TrialState.FAIL
    retried = trials[4]
    assert retried.state == TrialState.COMPLETE and retried.params == best.params
    assert (retried.user_attrs[RUNG], retried.user_attrs[PROMOTED_FROM]) == (1, best.number)
    assert epochs(retried) == (3, 3)


@pytest.mark.parametrize(
    ("preset", "overrides", "message"),
    [
        ("widths", ["hydra.sweeper.fidelity.rungs=[4,2]"], "rungs=[4, 2] must be two or more"),
        ("widths", ["hydra.sweeper.fidelity.rungs=[2,40]"], "over budget.max_epochs=20"),
        ("pareto", [], "ranks trials by one objective"),
        ("widths", ["hydra/sweeper/pruner=median"], "use hydra/sweeper/pruner=none with it"),
        ("widths", ["hydra/sweeper/fidelity=halvng"], "fidelity=halvng is not a fidelity"),
    ],
)
def test_bad_fidelity_settings_are_refused_in_one_line_before_any_training(
    cli, tmp_path, preset, overrides, message
):
    done = cli("-m", f"hparams_search={preset}", *SEARCH[2:], "hydra/sweeper/fidelity=halving",
               *overrides)  # fmt: skip
    out = done.stdout + done.stderr
    assert done.returncode == 2, out[-3000:]
    assert message in out and "Traceback" not in out
    assert len(out.strip().splitlines()) == 1
    assert not list(tmp_path.glob("multirun/*/*/[0-9]*"))
