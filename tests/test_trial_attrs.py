"""The trial-attribute protocol: confirmations are added after earlier ones and read latest
first, and a trial's run folders are read the same way everywhere."""

from __future__ import annotations

from pathlib import Path

import optuna

from mnist_sweep import trial_attrs


def test_a_trial_confirmed_again_is_read_at_its_latest_confirmation():
    study = optuna.create_study()
    assert trial_attrs.latest_confirmation(study.user_attrs, 3) is None
    keys = [trial_attrs.add_confirmation(study, 3, {"seeds": [s]}) for s in (1000, 1001, 1002)]
    trial_attrs.add_confirmation(study, 30, {"seeds": [7]})  # another trial's
    assert keys == ["confirmed/3", "confirmed/3/2", "confirmed/3/3"]
    assert trial_attrs.latest_confirmation(study.user_attrs, 3) == {"seeds": [1002]}
    assert [c["seeds"] for c in trial_attrs.confirmations(study.user_attrs, 3)] == [
        [1000],
        [1001],
        [1002],
    ]
    assert len(trial_attrs.every_confirmation(study.user_attrs)) == 4


def test_a_trial_points_to_one_run_folder_per_seed_or_its_one_run():
    study = optuna.create_study()
    one, repeated = study.ask(), study.ask()
    trial_attrs.set_runs(one, ["runs/0"], repeats=False)
    trial_attrs.set_runs(repeated, ["runs/1", "runs/2"], repeats=True)
    assert trial_attrs.run_dirs(one) == [Path("runs/0")]
    assert trial_attrs.run_dirs(repeated) == [Path("runs/1"), Path("runs/2")]
    assert trial_attrs.run_dir(repeated) == "runs/1"
