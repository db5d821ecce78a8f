"""The trial-attribute protocol: confirmations are added after earlier ones and read latest
first, and a trial's run folders are read the same way everywhere."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

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


def test_a_recipe_confirmed_in_parts_is_read_as_one_confirmation_of_all_its_seeds():
    study = optuna.create_study()
    assert trial_attrs.same_recipe_confirmation(study.user_attrs, 0) is None
    parts = [  # two processes of one recipe, after a confirmation of another recipe
        ({"device.threads=1", "trainer.epochs=20"}, [5000], [0.9900]),
        ({"device.threads=1"}, [7603, 7604], [0.9950, 0.9940]),
        ({"device.threads=1"}, [7600, 7601, 7602], [0.9960, 0.9930, 0.9970]),
    ]
    for overrides, seeds, accs in parts:
        record = {"set": sorted(overrides), "seeds": seeds, "test_acc": accs, "sweep": str(seeds)}
        trial_attrs.add_confirmation(study, 0, record)
    merged = trial_attrs.same_recipe_confirmation(study.user_attrs, 0)
    assert merged["seeds"] == [7600, 7601, 7602, 7603, 7604]
    assert merged["test_acc"] == [0.9960, 0.9930, 0.9970, 0.9950, 0.9940]
    assert merged["mean"] == pytest.approx(0.995)
    assert merged["std"] == pytest.approx(0.0015811, abs=1e-6)
    assert merged["worst"] == 0.9930
    assert merged["sweeps"] == ["[7603, 7604]", "[7600, 7601, 7602]"]
    assert [p["seeds"] for p in merged["parts"]] == [[7603, 7604], [7600, 7601, 7602]]


def test_a_trial_points_to_one_run_folder_per_seed_or_its_one_run():
    study = optuna.create_study()
    one, repeated = study.ask(), study.ask()
    trial_attrs.set_runs(one, ["runs/0"], repeats=False)
    trial_attrs.set_runs(repeated, ["runs/1", "runs/2"], repeats=True)
    assert trial_attrs.run_dirs(one) == [Path("runs/0")]
    assert trial_attrs.run_dirs(repeated) == [Path("runs/1"), Path("runs/2")]
    assert trial_attrs.run_dir(repeated) == "runs/1"
