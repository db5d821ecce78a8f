"""hparams_search=records: the published reference layouts and recipes are points of its space,
and every point composes, is counted before it trains and is refused over budget."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
import yaml

from mnist_sweep import architecture, models
from mnist_sweep.config import validate
from mnist_sweep.errors import BudgetError, ConfigError
from mnist_sweep.record import Budget
from mnist_sweep.run import execute
from mnist_sweep.search import enqueue
from mnist_sweep.search.space import contains, lowest
from tests.conftest import (
    CONF,
    SLICE,
    as_overrides,
    compose_search,
    random_points,
    search_space,
)

# The search values of each published layout and recipe (conf/model/ref*.yaml,
# conf/experiment/ref*.yaml).
REFERENCES = {
    "ref3762": {
        **{"search.blocks": 3, "search.c1": 3, "search.c2": 3, "search.c3": 3},
        **{"search.w1": 4, "search.w2": 8, "search.w3": 8, "search.transition": False},
        **{"search.pad_last": 1, "search.head": "gap", "search.dropout": 0.01},
        **{"search.degrees": 10, "search.shift": 0.06, "search.scale": 0.1, "search.shear": 0},
        **{"search.brightness": 0.2, "search.contrast": 0.0},
        **{"optim": "sgd", "optim.lr": 0.1, "sched": "step"},
        **{"trainer.batch_size": 32, "trainer.epochs": 15},
    },
    "ref9594": {
        **{"search.blocks": 3, "search.c1": 1, "search.c2": 1, "search.c3": 1},
        **{"search.w1": 8, "search.w2": 16, "search.w3": 16, "search.transition": True},
        **{"search.pad_last": 0, "search.head": "flatten", "search.dropout": 0.0},
        **{"search.degrees": 15, "search.shift": 0.0714, "search.scale": 0.0, "search.shear": 0},
        **{"search.brightness": 0.0, "search.contrast": 0.0},
        **{"optim": "adagrad", "optim.lr": 0.75, "sched": "onecycle"},
        **{"trainer.batch_size": 128, "trainer.epochs": 10},
    },
}


@pytest.mark.parametrize("name", REFERENCES)
def test_a_published_layout_and_recipe_is_a_point_of_the_space(make_cfg, name):
    point, space = REFERENCES[name], search_space("records")
    outside = {k: v for k, v in point.items() if not contains(space[k], v)}
    assert not outside
    plain = validate(compose_search("records", *as_overrides(point)))
    layout = yaml.safe_load((CONF / "model" / f"{name}.yaml").read_text())
    assert architecture.parse(plain["model"]) == architecture.parse(layout)
    assert models.count_params(plain["model"]) == int(name.removeprefix("ref"))
    recipe = validate(make_cfg(f"experiment={name}"))
    for group, key in [("optim", "_target_"), ("optim", "lr"), ("sched", "_target_")]:
        assert plain[group][key] == recipe[group][key]
    assert plain["aug"]["affine"] == recipe["aug"]["affine"]
    for key in ("batch_size", "epochs"):
        assert plain["trainer"][key] == recipe["trainer"][key]


def test_every_sampled_point_composes_and_is_counted_or_refused_before_training():
    budget, counted, over = Budget.of({}), 0, 0
    for point in random_points("records", 30):
        plain = validate(compose_search("records", *as_overrides(point)))
        assert len(plain["model"]["widths"]) == sum(plain["model"]["blocks"])
        try:
            params = models.count_params(plain["model"])
        except ConfigError as exc:  # e.g. three unpadded convs in a 3x3 last block
            assert "feature map" in str(exc), exc
            continue
        assert params == models.trainable_params(models.ConvNet(**plain["model"]))
        assert plain["trainer"]["epochs"] <= budget.max_epochs
        counted += 1
        if params > budget.max_params:
            with pytest.raises(BudgetError, match="refused before training"):
                budget.check(params, plain["trainer"]["epochs"])
            over += 1
    assert counted >= 20 and counted - over >= 10  # most of the space builds, much of it fits


def test_the_smallest_point_fits_a_1000_parameter_budget():
    smallest = validate(compose_search("records", *as_overrides(lowest(search_space("records")))))
    assert models.count_params(smallest["model"]) < 1000


def test_a_sampled_point_with_1x1_convs_and_every_transform_trains_on_a_slice(mnist_root, tmp_path):
    def fits(point: dict[str, object]) -> bool:
        try:
            plain = validate(compose_search("records", *as_overrides(point)))
            return models.count_params(plain["model"]) <= 20_000
        except ConfigError:
            return False

    point = next(p for p in random_points("records", 60) if p["search.transition"] and fits(p))
    cfg = compose_search("records", *as_overrides(point), *SLICE, f"data.root={mnist_root}")
    assert 1 in cfg.model.kernels and cfg.aug.intensity.brightness > 0
    record = execute(cfg, Path(tmp_path) / "run")
    assert record.status == "completed" and 0 <= record.val_acc <= 1


def test_points_enqueued_into_a_study_are_the_first_trials_the_search_trains(cli, tmp_path):
    point = "search.c1=1 search.w1=6 search.head=conv1x1 optim=adam sched=cosine"
    point += " optim.weight_decay=1e-5"  # read as the command line reads it: a float
    url = f"sqlite:///{tmp_path}/studies/records.db"
    assert enqueue.main(["records", point, "--storage", url]) == 0
    done = cli("-m", "hparams_search=records", *SLICE, "hydra.sweeper.n_trials=2")
    assert done.returncode == 0, done.stderr
    first, second = optuna.load_study(study_name="records", storage=url).trials
    assert first.state == second.state == optuna.trial.TrialState.COMPLETE
    expected = {"search.c1": 1, "search.w1": 6, "search.head": "conv1x1", "optim": "adam"}
    expected |= {"optim.weight_decay": 1e-5}
    assert {k: first.params[k] for k in [*expected, "sched"]} == {**expected, "sched": "cosine"}
    assert {k: second.params[k] for k in expected} != expected  # the sampler's own proposal


@pytest.mark.parametrize(
    ("point", "named"),
    [
        ("search.w9=4", "'search.w9' is not a parameter of the search"),
        ("search.w1=5", "search.w1=5 is outside the search's range [4, 16]"),
        ("optim=rmsprop", "optim=rmsprop is outside the search's range choice(sgd, adam"),
        ("search.transition=1", "search.transition=1 is outside the search's range choice(false"),
        ("search.w1", "'search.w1' in point 'search.w1' is not key=value"),
        ("optim.lr=1e-7", "optim.lr=1e-7 is outside the search's range [0.0005, 1.0]"),
        ("search.w1=range(4,8)", "'search.w1=range(4,8)' in point 'search.w1=range(4,8)' is"),
    ],
)
def test_a_bad_enqueued_point_is_named_in_one_line_and_no_study_is_written(
    tmp_path, capsys, point, named
):
    url = f"sqlite:///{tmp_path}/records.db"
    assert enqueue.main(["records", "search.w1=4", point, "--storage", url]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {named}") and err.count("\n") == 1
    assert not list(tmp_path.iterdir())


def test_enqueueing_into_a_preset_that_does_not_exist_names_the_presets(tmp_path, capsys):
    assert enqueue.main(["recordz", "search.w1=4", "--storage", f"sqlite:///{tmp_path}/r.db"]) == 2
    assert "'recordz' is not a search preset; choose one of arch, " in capsys.readouterr().err


def test_a_point_already_waiting_is_skipped_and_one_whose_trial_failed_is_enqueued_again(tmp_path):
    url = f"sqlite:///{tmp_path}/records.db"
    assert enqueue.main(["records", "search.w1=6 optim=adam", "--storage", url]) == 0
    assert enqueue.main(["records", "search.w1=6 optim=adam", "--storage", url]) == 0
    study = optuna.load_study(study_name="records", storage=url)
    assert len(study.trials) == 1
    trial = study.ask()
    assert trial.params == {}  # nothing suggested yet: the waiting point is taken by the sweeper
    study.tell(trial, state=optuna.trial.TrialState.FAIL)
    assert enqueue.main(["records", "search.w1=6 optim=adam", "--storage", url]) == 0
    states = [t.state.name for t in study.trials]
    assert states == ["FAIL", "WAITING"]


def test_a_point_enqueued_into_a_two_objective_preset_creates_its_study_with_both_directions(
    tmp_path,
):
    url = f"sqlite:///{tmp_path}/fastest.db"
    assert enqueue.main(["fastest", "trainer.epochs=5 search.w3=16", "--storage", url]) == 0
    study = optuna.load_study(study_name="fastest", storage=url)
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"]
    assert [t.state.name for t in study.trials] == ["WAITING"]
