"""Optuna search: presets, the budget-aware sweeper, resume, parallel jobs, shared studies."""

from __future__ import annotations

import json
import os
import shlex
from datetime import datetime
from pathlib import Path

import optuna
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from optuna.samplers import RandomSampler
from optuna.trial import TrialState

from mnist_sweep import models
from mnist_sweep.config import validate
from mnist_sweep.errors import ConfigError
from mnist_sweep.record import OBJECTIVES
from mnist_sweep.search.proposals import MAX_MACS_CONSTRAINT, MAX_PARAMS_CONSTRAINT
from mnist_sweep.search.sampling import PerTrialSeed
from mnist_sweep.search.schema import SearchSweeperConf
from mnist_sweep.search.settings import Settings
from mnist_sweep.search.space import lowest, parse_space
from tests.conftest import (
    CONF,
    QUICK,
    SLICE,
    as_overrides,
    compose_search,
    random_points,
    run_together,
    search_space,
    trial_metrics,
)

# a search small enough for a test: 1,024 training images, 1,000 validation images, one epoch
SEARCH = ["-m", "hparams_search=widths", *QUICK, "data.val_size=1000"]
WIDTHS = ("search.w1", "search.w2", "search.w3", "search.w4")


def load(tmp_path: Path, name: str = "widths") -> optuna.Study:
    """The study as another process sees it: opened from its SQLite file with the Optuna API."""
    return optuna.load_study(study_name=name, storage=f"sqlite:///{tmp_path}/studies/{name}.db")


def proposals(trials: list[optuna.trial.FrozenTrial]) -> list[tuple[int, ...]]:
    return [tuple(t.params[k] for k in WIDTHS) for t in trials]


def sweep_dirs(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "multirun").glob("*/*"))


@pytest.mark.parametrize("preset", ["widths", "widths_lr", "pareto"])
def test_search_presets_map_scalar_search_keys_onto_integer_widths(make_cfg, preset):
    cfg = make_cfg(f"hparams_search={preset}", "search.w1=6", "search.w4=40")
    widths = OmegaConf.to_container(cfg.model, resolve=True)["widths"]
    w2, w3 = cfg.search.w2, cfg.search.w3
    assert widths == [6, w2, w2, w3, w3, 40]
    assert all(type(w) is int for w in widths)
    assert cfg.data.val_size > 0  # the objective is validation accuracy


def test_parse_space_names_an_empty_or_inverted_range():
    with pytest.raises(ConfigError, match=r"search.w1=range\(16,4\)"):
        parse_space(["search.w1=range(16,4)"])
    with pytest.raises(ConfigError, match=r"search.w2=interval\(9,3\)"):
        parse_space(["search.w2=interval(9,3)"])


def test_parse_space_lets_a_later_override_replace_a_range():
    space, fixed, _ = parse_space(["search.w1=range(4,17,2)", "a=1", "search.w1=8", "a=range(1,3)"])
    assert fixed == {"search.w1": "8"} and lowest(space) == {"a": 1}


def session(storage: str, n: int) -> list[int]:
    """Open (or resume) a study seeded 0 and draw one number for each of ``n`` new trials."""
    sampler = PerTrialSeed(lambda seed: RandomSampler(seed=seed), 0)
    study = optuna.create_study(
        study_name="s", storage=storage, sampler=sampler, load_if_exists=True
    )
    values = []
    for _ in range(n):
        trial = study.ask()
        values.append(trial.suggest_int("x", 0, 10**9))
        study.tell(trial, 0.0)
    return values


def test_per_trial_seed_never_replays_when_a_study_resumes(tmp_path):
    first, resumed = (
        session(f"sqlite:///{tmp_path}/a.db", 3),
        session(f"sqlite:///{tmp_path}/a.db", 3),
    )
    assert not set(first) & set(resumed)
    # and the same search from scratch draws the same values: it stays reproducible
    assert session(f"sqlite:///{tmp_path}/b.db", 6) == first + resumed


def test_search_records_its_trials_and_a_second_run_within_its_timeout_adds_new_ones(
    cli, tmp_path, make_cfg
):
    done = cli(*SEARCH, "hydra.sweeper.n_trials=2")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Warning" not in done.stderr  # no library warning a user cannot act on
    first = load(tmp_path).trials
    assert [t.state for t in first] == [TrialState.COMPLETE] * 2
    for t in first:
        metrics = json.loads((Path(t.user_attrs["run_dir"]) / "metrics.json").read_text())
        assert metrics["study"] == "widths" and metrics["trial"] == t.number
        assert t.value == metrics["val_acc"] and t.user_attrs["test_acc"] == metrics["test_acc"]
        assert t.user_attrs["params"] == metrics["params"]

    results = OmegaConf.load(sweep_dirs(tmp_path)[0] / "optimization_results.yaml")
    best = max(first, key=lambda t: t.value)
    assert results.best_trial == best.number and results.best_value == best.value
    command = shlex.split(results.rerun)
    assert command[:3] == ["python", "-m", "mnist_sweep"] and "-m" not in command[3:]
    assert not [a for a in command if a.startswith(("hparams_search", "search."))]
    rerun = make_cfg(*command[3:])
    w1, w2, w3, w4 = (best.params[k] for k in WIDTHS)
    assert OmegaConf.to_container(rerun.model, resolve=True)["widths"] == [w1, w2, w2, w3, w3, w4]
    assert rerun.data.val_size == 0 and rerun.data.train_subset is None
    assert rerun.trainer.epochs == make_cfg().trainer.epochs  # the default recipe's length
    # and it runs as printed (on a slice here, appended: the printed one trains for minutes)
    again = cli(*command[3:], "data.train_subset=1024", "trainer.batch_size=64", "trainer.epochs=1")
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]

    # a time limit: the first trial starts within it, none after it (a trial outlasts a second)
    again = cli(*SEARCH, "hydra.sweeper.n_trials=4", "hydra.sweeper.timeout=1")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "hydra.sweeper.timeout=1 s passed: no further trial started" in again.stdout
    trials = load(tmp_path).trials
    assert proposals(trials[:2]) == proposals(first)  # earlier trials are kept as they were
    assert len([t for t in trials if t.state == TrialState.COMPLETE]) == 3
    assert not set(proposals(trials[2:])) & set(proposals(first))  # nothing replayed


def test_an_over_budget_proposal_is_pruned_and_the_search_goes_on(cli, tmp_path):
    budget = 8000  # about two in three of the default width ranges are over it
    done = cli(*SEARCH, f"budget.max_params={budget}", "hydra.sweeper.n_trials=2")
    assert done.returncode == 0, done.stderr[-3000:]
    trials = load(tmp_path).trials
    refused = [t for t in trials if t.state == TrialState.PRUNED]
    trained = [t for t in trials if t.state == TrialState.COMPLETE]
    assert refused and len(trained) == 2 and len(trials) == len(refused) + 2
    assert all(t.user_attrs["params"] > budget and "refused" in t.user_attrs for t in refused)
    assert all(t.user_attrs["params"] <= budget for t in trained)
    assert sorted(p.name for p in sweep_dirs(tmp_path)[0].glob("[0-9]*")) == ["0", "1"]
    assert f"{len(refused)} proposals refused before training" in done.stdout


def test_a_diverged_trial_is_told_as_failed_with_its_reason_and_the_search_goes_on(cli, tmp_path):
    done = cli(*SEARCH, "hydra.sweeper.n_trials=2", "optim.lr=1e6")
    assert done.returncode == 1, done.stderr[-3000:]  # no trial trained to its end
    assert "no job of this sweep trained to its end (2 diverged)" in done.stderr
    trials = load(tmp_path).trials
    assert [t.state for t in trials] == [TrialState.FAIL] * 2
    assert all(t.user_attrs["failed"].startswith("diverged: training diverged") for t in trials)
    assert "No trial of study 'widths' has completed" in done.stdout + done.stderr


def test_pareto_search_maximises_accuracy_minimises_parameters_and_lists_the_front(cli, tmp_path):
    done = cli("-m", "hparams_search=pareto", *SEARCH[2:], "hydra.sweeper.n_trials=2")
    assert done.returncode == 0, done.stderr[-3000:]
    study = load(tmp_path, "pareto")
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"]
    for t in study.get_trials(states=[TrialState.COMPLETE]):
        metrics = json.loads((Path(t.user_attrs["run_dir"]) / "metrics.json").read_text())
        assert t.values == [metrics["val_acc"], metrics["params"]]
    results = OmegaConf.load(sweep_dirs(tmp_path)[0] / "optimization_results.yaml")
    assert sorted(s.trial for s in results.solutions) == sorted(t.number for t in study.best_trials)
    assert all("data.val_size=0" in s.rerun for s in results.solutions)


def test_fastest_search_trades_validation_accuracy_against_training_compute(cli, tmp_path):
    # a slice; the searched epochs and batch sizes fixed small, and a multiply-add budget that
    # the sampler's first proposals often exceed
    budget = 600_000
    slice_ = [o for o in SLICE if not o.startswith("data.train_subset=")]
    done = cli(
        "-m",
        "hparams_search=fastest",
        *slice_,
        "data.train_subset=320",
        f"budget.max_macs={budget}",
        "hydra.sweeper.n_trials=3",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    study = load(tmp_path, "fastest")
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"]
    trained = study.get_trials(states=[TrialState.COMPLETE])
    refused = study.get_trials(states=[TrialState.PRUNED])
    assert len(trained) == 3 and refused
    for t in trained:  # the objectives are what the run recorded: never a test-set number
        metrics = trial_metrics(t)
        assert t.values == [metrics["val_acc"], metrics["train_macs"]]
        assert metrics["train_macs"] == 3 * metrics["macs"] * 320  # 5 batches of 64, one epoch
        assert metrics["macs"] <= budget and t.constraints[MAX_MACS_CONSTRAINT] <= 0
    for t in refused:  # over budget.max_macs (or max_params): counted, never trained
        over_macs = t.constraints[MAX_MACS_CONSTRAINT] > 0
        assert over_macs or t.constraints[MAX_PARAMS_CONSTRAINT] > 0
        assert "run_dir" not in t.user_attrs
    reasons = [t.user_attrs["refused"] for t in refused]
    assert any(f"over budget.max_macs={budget:,};" in r for r in reasons)
    (sweep_dir,) = sweep_dirs(tmp_path)
    assert sorted(p.name for p in sweep_dir.glob("[0-9]*")) == ["0", "1", "2"]
    results = OmegaConf.load(sweep_dir / "optimization_results.yaml")
    assert sorted(s.trial for s in results.solutions) == sorted(t.number for t in study.best_trials)
    for solution in results.solutions:  # a re-run keeps the epochs and batch size it cost
        assert "trainer.epochs=1" in solution.rerun and "trainer.batch_size=64" in solution.rerun
    page = (sweep_dir / "leaderboard.html").read_text()
    assert 'id="cost-front"' in page and "accuracy&ndash;compute front" in page


def test_fastest_space_starts_at_the_default_model_and_its_low_corner_is_its_cheapest():
    def table(plain: dict) -> list[dict]:
        return [layer.as_row() for layer in models.architecture(plain["model"])]

    start = validate(compose_search("fastest"))
    with initialize_config_dir(config_dir=str(CONF)):
        default = validate(compose("config"))
    assert table(start) == table(default)  # 14,654 parameters, 972,160 multiply-adds per image
    assert start["aug"] == default["aug"] and start["optim"] == default["optim"]
    cheapest = validate(compose_search("fastest", *as_overrides(lowest(search_space("fastest")))))
    floor = models.macs(cheapest["model"])
    for point in random_points("fastest", 20):  # every point a valid model of the family
        plain = validate(compose_search("fastest", *as_overrides(point)))
        assert models.macs(plain["model"]) >= floor
        assert 3 <= plain["trainer"]["epochs"] <= 8 and 64 <= plain["trainer"]["batch_size"] <= 512


def test_time_to_target_is_never_a_search_objective():
    assert not {"target_epoch", "target_seconds"} & set(OBJECTIVES)
    chosen = {"direction": ["maximize", "minimize"], "objectives": ["val_acc", "target_seconds"]}
    nop = {"_target_": "optuna.pruners.NopPruner"}
    raw = vars(SearchSweeperConf()) | {"fidelity": None, "n_trials": 1, "pruner": nop} | chosen
    Settings.of(raw | {"objectives": ["val_acc", "train_macs"]}, "none")  # what fastest uses
    with pytest.raises(ConfigError) as refused:
        Settings.of(raw, "none")
    assert "never a search objective" in str(refused.value)


def test_joblib_runs_a_batch_of_two_trials_at_once_sharing_the_cores(cli, tmp_path):
    args = [a for a in SEARCH if not a.startswith("device.threads")]
    done = cli(*args, "hydra/launcher=joblib", "hydra.sweeper.n_jobs=2", "hydra.sweeper.n_trials=2")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "is launching 2 jobs" in done.stdout
    runs = sorted(sweep_dirs(tmp_path)[0].glob("[0-9]*/metrics.json"))
    metrics = [json.loads(p.read_text()) for p in runs]
    assert [m["status"] for m in metrics] == ["completed", "completed"]
    assert [m["threads"] for m in metrics] == [max(1, len(os.sched_getaffinity(0)) // 2)] * 2
    started = [datetime.fromisoformat(m["started_at"]).timestamp() for m in metrics]
    ended = [p.stat().st_mtime for p in runs]
    assert started[0] <= ended[1] and started[1] <= ended[0]  # the two runs overlap in time


def test_two_processes_sharing_one_study_both_complete(mnist_root, tmp_path):
    run_together([*SEARCH, "hydra.sweeper.n_trials=2"], tmp_path)
    trials = load(tmp_path).trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 4
    assert len(set(proposals(trials))) == 4


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("search.w1=range(16,4)", "is empty or inverted"),
        ("budget.max_params=2000", "no model in this search space fits budget.max_params=2,000"),
        ("budget.max_macs=100000", "no model in this search space fits budget.max_macs=100,000"),
        ("hydra.sweeper.storage=postgresql://nobody@127.0.0.1:9/optuna", "could not be opened"),
        ("data.val_size=0", "never on the test set"),
    ],
)
def test_bad_search_input_is_refused_before_any_training(cli, tmp_path, override, message):
    done = cli(*SEARCH, override)
    assert done.returncode == 2
    assert message in done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert not list((tmp_path / "multirun").glob("*/*/[0-9]*"))


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ((1, ["maximize"], "widths(v2)"), "hydra.sweeper.study_name='widths(v2)'"),
        ((1, ["maximize"], "<b>x"), "hydra.sweeper.study_name='<b>x'"),
        ((-1, ["maximize"], "widths"), "hydra.sweeper.n_trials=-1"),
        ((0, ["maximize"], "widths"), "hydra.sweeper.n_trials=0"),
        ((1, ["maximize", "sideways"], "widths"), "hydra.sweeper.direction='sideways'"),
    ],
)
def test_bad_search_settings_are_named_in_one_line(settings, named):
    n_trials, directions, study_name = settings
    chosen = {"n_trials": n_trials, "direction": directions, "study_name": study_name}
    raw = vars(SearchSweeperConf()) | {"fidelity": None} | chosen  # the schema's defaults
    with pytest.raises(ConfigError) as refused:
        Settings.of(raw, None)
    assert named in str(refused.value) and "is not allowed" in str(refused.value)
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ("hydra.sweeper.study_name='<b>x'", "hydra.sweeper.study_name='<b>x'"),
        ("hydra.sweeper.direction=sideways", "hydra.sweeper.direction='sideways'"),
    ],
)
def test_a_refused_search_leaves_no_study_file_and_no_trial(cli, tmp_path, override, named):
    done = cli(*SEARCH, override)
    assert done.returncode == 2
    out = done.stdout + done.stderr
    assert "Traceback" not in out
    (line,) = [x for x in out.splitlines() if named in x]
    assert "is not allowed" in line
    assert not list(tmp_path.glob("studies/*"))  # no study (and no RUNNING trial) in a file
    assert not list((tmp_path / "multirun").glob("*/*/[0-9]*"))
