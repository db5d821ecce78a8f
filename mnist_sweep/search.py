"""Optuna search under the parameter budget: the ``budget`` Hydra sweeper and its study.

``hparams_search=...`` presets select ``hydra/sweeper=budget`` (:class:`BudgetSweeper`), a Hydra
sweeper built on public APIs only: Hydra's override parser reads the sweep syntax, Optuna's
ask/tell runs the study. Before a job is launched, every proposal is composed into its job config
and checked against ``budget.max_params``; one over budget never trains: it is told to the study as
PRUNED, with its parameter count as the ``params`` user attribute and an Optuna constraint, so the
sampler learns to avoid that region, and a new proposal takes its place until ``n_trials`` trials
have trained. Beyond that:

* the sampler draws trial ``n`` with seed ``seed + n`` (:class:`PerTrialSeed`), so a resumed study,
  or a second process on a shared one, never replays earlier proposals;
* every job reports its validation accuracy after each epoch to its trial through the study's
  storage (:func:`epoch_monitor`), and stops when the pruner (``hydra/sweeper/pruner``) says so;
* ``seeds`` trains every proposal once per seed; the objective is the mean over the seeds, and a
  seed job reports, after epoch ``e``, the mean over the seeds that have reached epoch ``e``: the
  pruner judges that running mean, and its decision stops every seed of the trial;
* with ``n_jobs`` > 1 and a launcher that runs jobs elsewhere (joblib, submitit), ``n_jobs``
  worker threads each ask, launch one trial and tell, so a slot is refilled as soon as its trial
  ends; the basic launcher runs jobs in this process and is not thread-safe: it runs batches;
* on an RDB storage, the sweeper records a heartbeat for its running trials; a trial left running
  by a killed process is failed when a sweeper next asks, and re-tried once;
* bad input stops the search with one clear message and exit status 2 before anything trains.

At the end, ``optimization_results.yaml`` gets the best trial (or the Pareto front) and a command
that re-runs it as a plain run on the full training set.
"""

from __future__ import annotations

import logging
import shlex
import statistics
import sys
import threading
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from hydra.core.config_store import ConfigStore
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override, Transformer
from hydra.core.plugins import Plugins
from hydra.core.utils import JobReturn, JobStatus
from hydra.errors import HydraException
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, RunMode, TaskFunction
from hydra.utils import instantiate
from omegaconf import MISSING, DictConfig, OmegaConf, open_dict
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.exceptions import ExperimentalWarning, UpdateFinishedTrialError
from optuna.samplers import BaseSampler
from optuna.storages import BaseStorage, RDBStorage, fail_stale_trials
from optuna.trial import FrozenTrial, Trial, TrialState

from mnist_sweep import artifacts, models
from mnist_sweep.config import validate, validate_search
from mnist_sweep.errors import BudgetError, ConfigError, UserError
from mnist_sweep.record import COMPLETED, OBJECTIVES, PRUNED, Budget, RunRecord
from mnist_sweep.storage import hide_password, open_storage

log = logging.getLogger(__name__)

# what a sampler or pruner config's ``_target_`` may name (the optuna plugin's sampler configs
# name its NSGA factories)
SAMPLER_TARGETS = ("hydra_plugins.hydra_optuna_sweeper.*", "optuna.samplers.*")
PRUNER_TARGETS = ("optuna.pruners.*",)
BUDGET_CONSTRAINT = "params_over_budget"
PRUNED_AT = "pruned_at_epoch"  # trial user attribute: the epoch a pruner stopped the trial
SEED_CURVE = "val_acc_seed_{}"  # trial user attribute: one seed job's validation accuracies
# launchers whose ``launch`` runs jobs outside this process, so worker threads may call it at once
THREAD_SAFE_LAUNCHERS = {
    "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher",
    "hydra_plugins.hydra_submitit_launcher.submitit_launcher.LocalLauncher",
    "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher",
}


@dataclass
class BudgetSweeperConf:
    """``hydra/sweeper=budget``: the optuna plugin's settings plus this sweeper's own."""

    _target_: str = "mnist_sweep.search.BudgetSweeper"
    defaults: list[Any] = field(
        default_factory=lambda: [{"sampler": "tpe"}, {"pruner": "none"}, "_self_"]
    )
    sampler: Any = MISSING  # hydra/sweeper/sampler: the optuna plugin's configs
    pruner: Any = MISSING  # hydra/sweeper/pruner: none, median, asha, hyperband (conf/)
    direction: Any = "maximize"  # or a list, one per objective
    storage: str | None = None  # an Optuna RDB URL; None: in memory, no pruning
    study_name: str | None = None
    n_trials: int = 20  # trials that train, per session; refused proposals do not count
    n_jobs: int = 1  # trials at once
    max_failure_rate: float = 0.0
    params: dict[str, str] | None = None  # Hydra sweep syntax
    seeds: list[int] | None = None  # train every proposal once per seed (trainer.seed)
    heartbeat_interval: int = 60  # seconds; a trial silent for twice that is failed, re-tried once
    max_refused: int | None = None  # stop after this many refused proposals in one session
    objectives: list[str] | None = None  # metrics.json fields, one per direction
    rerun_from_recipe: list[str] = field(default_factory=list)  # keys the re-run takes from it


ConfigStore.instance().store(
    group="hydra/sweeper", name="budget", node=BudgetSweeperConf, provider="mnist_sweep"
)


class PerTrialSeed(BaseSampler):
    """The configured sampler, seeded with ``seed + trial.number`` for every trial.

    One fixed seed makes a resumed study, or a second process on a shared study, draw the same
    proposals as the first; trial numbers are unique within a study, so each trial draws afresh,
    and a whole search is still reproducible. Without a seed the sampler is used as it is.
    """

    def __init__(self, make: Callable[[int | None], BaseSampler], seed: int | None) -> None:
        self._make, self._seed = make, seed
        self._sampler, self._number = make(seed), -1

    def _for(self, trial: FrozenTrial) -> BaseSampler:
        if self._seed is not None and trial.number != self._number:
            with warnings.catch_warnings():  # shown once, when the first sampler was built
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                self._sampler = self._make(self._seed + trial.number)
            self._number = trial.number
        return self._sampler

    def infer_relative_search_space(
        self, study: optuna.Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        return self._for(trial).infer_relative_search_space(study, trial)

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        return self._for(trial).sample_relative(study, trial, search_space)

    def sample_independent(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        return self._for(trial).sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self._for(trial).before_trial(study, trial)

    def after_trial(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        self._for(trial).after_trial(study, trial, state, values)


def distribution(override: Override) -> BaseDistribution:
    """The Optuna distribution of a sweep override: ``choice(...)`` or ``a,b,c`` → categorical;
    an integer ``range(low, stop[, step])`` → integers ``low..stop-step`` (stop excluded), any other
    range → categorical over its values; ``interval(low, high)`` → uniform (integers when both
    ends are), log-uniform with ``tag(log, ...)``. Raises ValueError for an empty range."""
    value = override.value()
    if override.is_interval_sweep():
        low, high, log_scale = value.start, value.end, "log" in value.tags
        if low > high:
            raise ValueError(f"low {low} is above high {high}")
        if isinstance(low, int) and isinstance(high, int):
            return IntDistribution(low, high, log=log_scale)
        return FloatDistribution(float(low), float(high), log=log_scale)
    values = list(override.sweep_iterator(transformer=Transformer.encode))
    if not values:
        raise ValueError("it holds no value")
    plain = override.is_range_sweep() and not value.shuffle and not value.transformers
    if plain and all(type(v) is int for v in (value.start, value.stop, value.step)):
        return IntDistribution(min(values), max(values), step=abs(value.step))
    if override.is_choice_sweep() or override.is_range_sweep():
        return CategoricalDistribution(values)
    raise ValueError(f"{type(value).__name__} is not a sweep Optuna can sample")


def parse_space(
    overrides: Sequence[str],
) -> tuple[dict[str, BaseDistribution], dict[str, Any], list[str]]:
    """Search distributions, fixed values and deletions of ``key=value`` overrides in Hydra's
    sweep syntax; one override at a time, so an empty or inverted range is named in the error. A
    later override of a key replaces an earlier one."""
    parser = OverridesParser.create()
    space: dict[str, BaseDistribution] = {}
    fixed: dict[str, Any] = {}
    deletions: list[str] = []
    for line in overrides:
        try:
            (override,) = parser.parse_overrides([line])
            if override.is_delete():
                deletions.append(line)
                continue
            name = override.get_key_element()
            space.pop(name, None)
            fixed.pop(name, None)
            if override.is_sweep_override():
                space[name] = distribution(override)
            else:
                fixed[name] = override.get_value_element_as_str()
        except (ValueError, HydraException) as exc:
            raise ConfigError(
                f"the search range {line!r} is empty or inverted ({exc}); give "
                "range(low, stop[, step]) with stop past low (stop is excluded), "
                "interval(low, high) with low <= high, or choice(a, b, ...)."
            ) from exc
    return space, fixed, deletions


def lowest(space: Mapping[str, BaseDistribution]) -> dict[str, Any]:
    """The low end of every range (the first option of a choice): the smallest model a width
    search can propose."""
    return {
        name: d.choices[0] if isinstance(d, CategoricalDistribution) else d.low
        for name, d in space.items()
    }


def _as_override(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def make_pruner(node: Any) -> optuna.pruners.BasePruner:
    """The pruner a ``hydra/sweeper/pruner`` config names; ConfigError if it names none."""
    target = OmegaConf.select(node, "_target_") if isinstance(node, DictConfig) else None
    try:
        pruner = instantiate(node, _execution_whitelist_=PRUNER_TARGETS)
    except Exception as exc:
        pruner, reason = None, f" ({str(exc).splitlines()[0]})"
    else:
        reason = ""
    if not isinstance(pruner, optuna.pruners.BasePruner):
        raise ConfigError(
            f"hydra.sweeper.pruner._target_={target} is not an Optuna pruner{reason}; choose "
            "hydra/sweeper/pruner=none, median, asha or hyperband."
        )
    return pruner


def unknown_pruner(argv: Sequence[str], conf_dir: Path) -> str | None:
    """Why a ``hydra/sweeper/pruner=NAME`` on the command line names no pruner config (None if
    it names one), so a typo gets one line instead of Hydra's composition error."""
    folder = conf_dir / "hydra" / "sweeper" / "pruner"
    known = sorted(p.stem for p in folder.glob("*.yaml"))
    for arg in argv:
        key, _, name = arg.partition("=")
        if key.lstrip("+~") == "hydra/sweeper/pruner" and name not in known:
            return f"hydra/sweeper/pruner={name} is not a pruner; choose one of {', '.join(known)}."
    return None


# -- the job's side: reporting each epoch to its trial ---------------------------------------------


class EpochMonitor:
    """Called after every epoch of a trial's job: records its validation accuracy as the trial's
    intermediate value, asks the study's pruner, and answers True when the job should stop.

    With ``seeds``, each seed job keeps its own curve in the user attribute ``val_acc_seed_<s>``
    and reports, at step ``e``, the mean over the seeds that have reached epoch ``e`` so far; a
    prune decision (user attribute ``pruned_at_epoch``) stops every seed job of the trial.
    Everything goes through the storage, so the job may run in the sweeper's process, a joblib
    worker, a submitit job or on another machine.
    """

    def __init__(
        self,
        study: optuna.Study,
        storage: BaseStorage,
        trial_id: int,
        seed: int,
        seeds: list[int] | None,
        epochs: int,
    ) -> None:
        self.study, self.storage, self.trial_id = study, storage, trial_id
        self.seed, self.seeds, self.epochs = seed, seeds, epochs
        self.curve: list[float] = []

    def __call__(self, row: Mapping[str, float]) -> bool:
        if row.get("val_acc") is None:
            return False
        epoch = int(row["epoch"])
        self.curve.append(float(row["val_acc"]))
        try:
            value = self.curve[-1]
            if self.seeds:
                self.storage.set_trial_user_attr(
                    self.trial_id, SEED_CURVE.format(self.seed), self.curve
                )
                attrs = self.storage.get_trial(self.trial_id).user_attrs
                curves = [attrs.get(SEED_CURVE.format(s)) or [] for s in self.seeds]
                value = statistics.fmean(c[epoch - 1] for c in curves if len(c) >= epoch)
            self.storage.set_trial_intermediate_value(self.trial_id, epoch, value)
            trial = self.storage.get_trial(self.trial_id)
            if epoch == self.epochs:  # the last epoch: nothing left to save
                return False
            if trial.user_attrs.get(PRUNED_AT) is not None:
                return True
            if self.study.pruner.prune(self.study, trial):
                self.storage.set_trial_user_attr(self.trial_id, PRUNED_AT, epoch)
                log.info("trial %d pruned after epoch %d (value %.4f)", trial.number, epoch, value)
                return True
        except UpdateFinishedTrialError:  # failed as stale meanwhile: nothing left to report to
            log.warning("trial of this job is no longer running; not reporting epoch %d", epoch)
        return False


def epoch_monitor(sweeper: DictConfig, cfg: DictConfig) -> EpochMonitor | None:
    """The monitor of a job (its config ``cfg``) of a ``budget`` sweeper trial (``sweeper``: the
    job's ``hydra.sweeper``); None for any other job, a study in memory, or a multi-objective
    study (Optuna prunes one objective)."""
    search = cfg.get("search") or {}
    direction = sweeper.get("direction")
    if (
        sweeper.get("_target_") != BudgetSweeperConf._target_
        or not sweeper.get("storage")
        or search.get("trial") is None
        or isinstance(direction, Sequence)
        and not isinstance(direction, str)
        and len(direction) > 1
    ):
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        storage = open_storage(str(sweeper.storage))
        study = optuna.load_study(
            study_name=search["study"], storage=storage, pruner=make_pruner(sweeper.pruner)
        )
    study_id = storage.get_study_id_from_name(search["study"])
    trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, search["trial"])
    seeds = list(sweeper.seeds) if sweeper.get("seeds") else None
    trainer = cfg.trainer
    return EpochMonitor(study, storage, trial_id, trainer.seed, seeds, trainer.epochs)


# -- the sweeper ---------------------------------------------------------------------------------


class BudgetSweeper(Sweeper):
    """The ``budget`` Hydra sweeper: Optuna ask/tell under the parameter budget, with pruning,
    seed repeats, refilled slots and heartbeats; see the module docstring and
    :class:`BudgetSweeperConf` for its settings."""

    def __init__(
        self,
        sampler: DictConfig,
        pruner: DictConfig,
        direction: Any,
        storage: str | None,
        study_name: str | None,
        n_trials: int,
        n_jobs: int,
        max_failure_rate: float,
        params: DictConfig | None,
        seeds: Sequence[int] | None,
        heartbeat_interval: int,
        max_refused: int | None,
        objectives: Sequence[str] | None,
        rerun_from_recipe: Sequence[str],
    ) -> None:
        self.sampler_cfg, self.pruner_cfg = sampler, pruner
        many = isinstance(direction, Sequence) and not isinstance(direction, str)
        self.directions = [str(d) for d in direction] if many else [str(direction)]
        self.storage_url, self.study_name = storage, study_name
        self.n_trials, self.n_jobs, self.max_failure_rate = n_trials, n_jobs, max_failure_rate
        self.params = dict(params or {})
        self.seeds = None if seeds is None else list(seeds)
        self.heartbeat_interval = heartbeat_interval
        self.max_refused = max_refused
        self.objective_names = None if objectives is None else list(objectives)
        self.rerun_keys = list(rerun_from_recipe or [])
        self.space: dict[str, BaseDistribution] = {}  # the search space, set by sweep()
        self.fixed: dict[str, Any] = {}  # overrides every trial gets (command line, fixed params)
        self.deletions: list[str] = []
        self.objectives: list[str] | None = None  # metrics.json fields of a multi-objective job
        self.max_params: int | None = None
        self.job_idx = 0
        self.lock = threading.Lock()  # the study's sampler, the counters, job numbers
        self.storage: BaseStorage | None = None  # set by _open_study
        self.running: dict[int, int] = {}  # trial number → id of the trials in flight (heartbeat)
        self.stop = threading.Event()  # a worker failed: the others start nothing new
        self.claimed = self.trained = self.refused = 0
        self.busy_seconds = 0.0  # the jobs' wall time (the log's busy share of the slots)
        self.done = threading.Event()  # the trials are over: the heartbeat stops

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.config, self.hydra_context = config, hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def sweep(self, arguments: list[str]) -> None:
        try:
            self._search(arguments)
        except UserError as exc:
            log.error("%s", exc)
            sys.exit(2)

    # -- before any job: the settings, the space, the budget, the storage -------------------------

    def _check_settings(self) -> None:
        validate_search(self.n_trials, self.directions, self.study_name)
        problems = []
        if self.n_jobs < 1:
            problems.append(f"hydra.sweeper.n_jobs={self.n_jobs} must be 1 or more")
        if self.heartbeat_interval <= 0:
            problems.append(
                f"hydra.sweeper.heartbeat_interval={self.heartbeat_interval} must be a whole "
                "number of seconds above 0 (default 60)"
            )
        if self.seeds is not None and (not self.seeds or len(set(self.seeds)) < len(self.seeds)):
            problems.append(
                f"hydra.sweeper.seeds={self.seeds} must list distinct seeds, e.g. [0,1,2], or be "
                "null (one run per proposal, with trainer.seed)"
            )
        if not 0 <= self.max_failure_rate <= 1:
            problems.append(
                f"hydra.sweeper.max_failure_rate={self.max_failure_rate} must be within [0, 1]"
            )
        if problems:
            raise ConfigError("; ".join(problems) + ".")
        self.pruner = make_pruner(self.pruner_cfg)
        if isinstance(self.pruner, optuna.pruners.NopPruner):
            return
        choice = self.config.hydra.runtime.choices.get("hydra/sweeper/pruner")
        name = f"{choice} ({type(self.pruner).__name__})"
        if len(self.directions) > 1:
            raise ConfigError(
                f"hydra/sweeper/pruner={name} cannot prune a multi-objective study "
                f"({len(self.directions)} directions): Optuna's pruners judge one objective; use "
                "hydra/sweeper/pruner=none with this preset."
            )
        if not self.storage_url:
            raise ConfigError(
                f"hydra/sweeper/pruner={name} needs hydra.sweeper.storage: jobs report each epoch "
                "through it; give sqlite:///studies/NAME.db or another Optuna RDB URL."
            )

    def _search(self, arguments: list[str]) -> None:
        self._check_settings()
        space, fixed, deletions = parse_space(
            [*(f"{k}={v}" for k, v in self.params.items()), *arguments]
        )
        self.space, self.fixed, self.deletions = space, fixed, deletions
        self.objectives = self._check_objectives(len(self.directions))
        smallest = self._compose(self._job_overrides(lowest(space)))
        if not smallest["data"]["val_size"]:
            raise ConfigError(
                "data.val_size=0: a search is scored on a validation split held out of the "
                "training images, never on the test set; set data.val_size > 0 (e.g. 10000)."
            )
        params = models.count_params(smallest["model"], smallest["allowed_targets"])
        self.max_params = smallest["budget"]["max_params"]
        if self.max_params is not None and params > self.max_params:
            corner = " ".join(f"{k}={v}" for k, v in lowest(space).items())
            raise ConfigError(
                f"no model in this search space fits budget.max_params={self.max_params:,}: "
                f"even the smallest, at the low end of every range ({corner}), has {params:,} "
                "trainable parameters. Lower the ranges in hydra.sweeper.params or raise the "
                "budget."
            )
        try:
            Budget.of(smallest["budget"]).check(params, smallest["trainer"]["epochs"])
        except BudgetError as exc:  # the epoch limit
            raise ConfigError(f"every trial of this search would be {exc}") from exc
        self.sampler = self._make_sampler()
        study = self._open_study()
        log.info(
            "Study %r in %s (%d trials so far), directions %s, sampler %s, pruner %s, seeds %s",
            study.study_name,
            hide_password(self.storage_url) if self.storage_url else "memory",
            len(study.trials),
            self.directions,
            self.sampler_cfg._target_,
            type(self.pruner).__name__,
            self.seeds,
        )
        self._run_trials(study)
        self._write_results(study)

    def _check_objectives(self, n_directions: int) -> list[str] | None:
        names = self.objective_names
        if names is None and n_directions == 1:
            return None
        names = list(names or [])
        if len(names) != n_directions or not set(names) <= set(OBJECTIVES):
            raise ConfigError(
                f"hydra.sweeper.objectives={names} must name one metrics.json field per "
                f"hydra.sweeper.direction ({n_directions}), each one of {', '.join(OBJECTIVES)}; "
                "test-set numbers are never a search objective."
            )
        return names

    def _make_sampler(self) -> PerTrialSeed:
        def make(seed: int | None) -> BaseSampler:
            cfg = OmegaConf.to_container(self.sampler_cfg, resolve=True)
            if seed is not None:
                cfg["seed"] = seed
            return instantiate(cfg, _execution_whitelist_=SAMPLER_TARGETS)

        sampler = make(None)
        if not isinstance(sampler, BaseSampler):  # the grid sampler is a partial: built per space
            raise ConfigError(
                f"hydra/sweeper/sampler={self.sampler_cfg._target_} is not supported by the "
                "budget-aware sweeper; use tpe (the default), random, cmaes, gp, qmc or nsgaii."
            )
        return PerTrialSeed(make, self.sampler_cfg.get("seed"))

    def _open_study(self) -> optuna.Study:
        """Create or load the study. An RDB storage gets a heartbeat: a trial silent for twice
        the interval is failed and re-tried once (a WAITING copy that the next ``ask`` takes)."""
        shown = hide_password(self.storage_url) if self.storage_url else None
        if self.storage_url:
            self.storage = open_storage(self.storage_url, self.heartbeat_interval)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ExperimentalWarning)
                study = optuna.create_study(
                    study_name=self.study_name,
                    storage=self.storage,
                    sampler=self.sampler,
                    pruner=self.pruner,
                    directions=self.directions,
                    load_if_exists=True,
                )
        except Exception as exc:  # e.g. a database that accepts the connection but not the user
            reason = str(exc).splitlines()[0].rstrip(".")
            raise ConfigError(
                f"hydra.sweeper.storage={shown!r}: the study {self.study_name!r} could not be "
                f"created or loaded: {type(exc).__name__}: {reason}."
            ) from exc
        have = [d.name.lower() for d in study.directions]
        if have != [d.lower() for d in self.directions]:
            raise ConfigError(
                f"study {study.study_name!r} in {shown} optimises {have}, but this search asks "
                f"for {self.directions}; choose another hydra.sweeper.study_name."
            )
        return study

    # -- the trials -------------------------------------------------------------------------------

    def _job_overrides(self, values: Mapping[str, Any]) -> list[str]:
        return [
            *(f"{k}={_as_override(v)}" for k, v in {**values, **self.fixed}.items()),
            *self.deletions,
        ]

    def _compose(self, overrides: list[str]) -> dict[str, Any]:
        """The job config for these overrides, validated, as plain data (raises ConfigError)."""
        cfg = self.hydra_context.config_loader.load_sweep_config(self.config, overrides)
        with open_dict(cfg):
            del cfg["hydra"]
        return validate(cfg)

    def _propose(self, study: optuna.Study) -> tuple[Trial, list[str]] | None:
        """Ask for one trial; None if it was refused before training (and told to the study).
        A trial the heartbeat found stale is re-tried first: ``ask`` takes its WAITING copy,
        whose parameters are already set."""
        with warnings.catch_warnings():  # heartbeats are meant for optimize(); ours are below
            warnings.simplefilter("ignore")
            fail_stale_trials(study)
            trial = study.ask(fixed_distributions=self.space)
        self._beat_for(study, trial.number)
        for key in list(trial.user_attrs):  # a re-tried trial starts without its lost epochs
            if key == PRUNED_AT or key.startswith(SEED_CURVE.format("")):
                trial.set_user_attr(key, None)
        overrides = [
            *self._job_overrides(trial.params),
            f"++search.study={study.study_name}",
            f"++search.trial={trial.number}",
        ]
        try:
            plain = self._compose(overrides)
            params = models.count_params(plain["model"], plain["allowed_targets"])
        except ConfigError as exc:
            trial.set_user_attr("refused", str(exc))
            self._finish(study, trial, state=TrialState.FAIL)
            log.warning("Trial %d refused, invalid config: %s", trial.number, exc)
            return None
        trial.set_user_attr("params", params)
        if self.max_params is not None:
            trial.set_constraint(BUDGET_CONSTRAINT, params - self.max_params)
        try:
            Budget.of(plain["budget"]).check(params, plain["trainer"]["epochs"])
        except BudgetError as exc:
            trial.set_user_attr("refused", str(exc))
            self._finish(study, trial, state=TrialState.PRUNED)
            log.info("Trial %d %s", trial.number, exc)
            return None
        return trial, overrides

    def _beat_for(self, study: optuna.Study, number: int) -> None:
        """Record a heartbeat for trial ``number`` now and until it is told (RDB storages; a
        journal file has no heartbeat)."""
        if not isinstance(self.storage, RDBStorage):
            return
        study_id = self.storage.get_study_id_from_name(study.study_name)
        trial_id = self.storage.get_trial_id_from_study_id_trial_number(study_id, number)
        self.storage.record_heartbeat(trial_id)
        self.running[number] = trial_id

    def _heartbeat(self) -> None:
        while not self.done.wait(self.heartbeat_interval):
            for trial_id in list(self.running.values()):
                try:
                    self.storage.record_heartbeat(trial_id)
                except Exception as exc:  # a busy database: the next beat comes soon
                    log.warning("heartbeat not recorded: %s: %s", type(exc).__name__, exc)

    def _finish(self, study: optuna.Study, trial: Trial, **outcome: Any) -> None:
        study.tell(trial, **outcome)
        self.running.pop(trial.number, None)

    def _run_trials(self, study: optuna.Study) -> None:
        """Run ``n_trials`` trials. With a launcher that runs jobs outside this process and more
        trials than slots, ``n_jobs`` worker threads each ask, launch one trial and tell, so a
        slot is refilled as soon as its trial ends; otherwise one worker launches batches of
        ``n_jobs`` trials (all that remain, when they fit in the slots at once)."""
        launcher = self.config.hydra.launcher._target_
        threaded = self.n_jobs > 1 and self.n_trials > self.n_jobs
        if threaded and launcher not in THREAD_SAFE_LAUNCHERS:
            log.info(
                "%s runs jobs in this process, one launch at a time: trials run in batches of "
                "%d; hydra/launcher=joblib refills each slot as soon as its trial ends",
                launcher.rsplit(".", 1)[-1],
                self.n_jobs,
            )
            threaded = False
        if self.storage is not None:
            threading.Thread(target=self._heartbeat, daemon=True).start()
        start = time.perf_counter()
        try:
            if threaded:
                errors: list[BaseException] = []
                workers = [
                    threading.Thread(target=self._worker, args=(study, 1, errors), daemon=True)
                    for _ in range(self.n_jobs)
                ]
                for w in workers:
                    w.start()
                try:
                    for w in workers:
                        w.join()
                except KeyboardInterrupt:  # the workers' trials in flight will never finish
                    self.stop.set()
                    for number in list(self.running):
                        study.tell(number, state=TrialState.FAIL)
                    raise
                if errors:
                    raise errors[0]
            else:
                self._worker(study, self.n_jobs, None)
        finally:
            self.done.set()
        elapsed = time.perf_counter() - start
        asked = self.trained + self.refused
        log.info(
            "%d trials trained, %d proposals refused before training (%.0f%% of %d asked); "
            "job slots busy %.0f%% of %.1f s",
            self.trained,
            self.refused,
            100 * self.refused / max(1, asked),
            asked,
            100 * self.busy_seconds / (self.n_jobs * len(self.seeds or [0]) * elapsed),
            elapsed,
        )

    def _worker(
        self, study: optuna.Study, per_launch: int, errors: list[BaseException] | None
    ) -> None:
        """Ask, launch and tell until ``n_trials`` trials are claimed. In a thread (``errors``
        given), an exception is kept for the main thread and stops the other workers."""
        try:
            while not self.stop.is_set():
                with self.lock:
                    k = min(per_launch, self.n_trials - self.claimed)
                    self.claimed += max(0, k)
                if k <= 0:
                    return
                batch = [self._next_proposal(study) for _ in range(k)]
                self._launch(study, batch)
        except BaseException as exc:
            if errors is None:
                raise
            errors.append(exc)
            self.stop.set()

    def _next_proposal(self, study: optuna.Study) -> tuple[Trial, list[str]]:
        while True:
            with self.lock:
                proposal = self._propose(study)
                if proposal:
                    return proposal
                self.refused += 1
                if self.max_refused is not None and self.refused > self.max_refused:
                    raise ConfigError(
                        f"{self.refused} proposals were refused before training, more than "
                        f"hydra.sweeper.max_refused={self.max_refused}, after {self.trained} "
                        "trials trained: the sampler keeps proposing models over "
                        f"budget.max_params={self.max_params} (or invalid ones, see the log). "
                        "Narrow the ranges in hydra.sweeper.params or raise the budget."
                    )

    def _launch(self, study: optuna.Study, batch: list[tuple[Trial, list[str]]]) -> None:
        """Launch the jobs of a batch of trials (one per seed each) and tell how each ended."""
        seeds = self.seeds or [None]
        jobs = [
            [*overrides, *([f"trainer.seed={s}"] if s is not None else [])]
            for _, overrides in batch
            for s in seeds
        ]
        with self.lock:
            first, self.job_idx = self.job_idx, self.job_idx + len(jobs)
        try:
            returns = self.launcher.launch(jobs, initial_job_idx=first)
        except BaseException:  # Ctrl-C or a launcher error: these trials will never finish
            with self.lock:
                for trial, _ in batch:
                    self._finish(study, trial, state=TrialState.FAIL)
            raise
        crashed = []
        with self.lock:
            for i, (trial, _) in enumerate(batch):
                rets = returns[i * len(seeds) : (i + 1) * len(seeds)]
                if not self._tell(study, trial, rets):
                    crashed += [r for r in rets if r.status != JobStatus.COMPLETED]
            self.trained += len(batch)
        if crashed and len(crashed) / len(returns) > self.max_failure_rate:
            log.error(
                "%d of %d jobs raised (hydra.sweeper.max_failure_rate=%s)",
                len(crashed),
                len(returns),
                self.max_failure_rate,
            )
            crashed[0].return_value  # noqa: B018 - JobReturn re-raises the job's exception

    def _tell(self, study: optuna.Study, trial: Trial, rets: Sequence[JobReturn]) -> bool:
        """Tell the study how a trial's jobs (one per seed) ended; False if a job raised (not a
        refused, failed or pruned run, which returns None and says why in its metrics.json)."""
        records: list[RunRecord | None] = []
        dirs = []
        for ret in rets:
            record = None
            if ret.hydra_cfg is not None:
                run_dir = Path(ret.hydra_cfg.hydra.runtime.output_dir)
                dirs.append(str(run_dir))
                if (run_dir / artifacts.METRICS).exists():
                    record = RunRecord.read(run_dir)
            records.append(record)
            self.busy_seconds += record.wall_seconds or 0.0 if record else 0.0
        if dirs:
            trial.set_user_attr("run_dir", dirs[0])
        if self.seeds and dirs:
            trial.set_user_attr("run_dirs", dirs)
        test = [r.test_acc for r in records if r and r.test_acc is not None]
        if test:
            trial.set_user_attr("test_acc", statistics.fmean(test))
        if any(ret.status != JobStatus.COMPLETED for ret in rets):
            self._finish(study, trial, state=TrialState.FAIL)
            return False
        if any(r and r.status == PRUNED for r in records):
            at = [r.epochs_run for r in records if r and r.status == PRUNED]
            trial.set_user_attr(PRUNED_AT, min(at))
            log.info("Trial %d pruned after epoch %d", trial.number, min(at))
            self._finish(study, trial, state=TrialState.PRUNED)
            return True
        values = [ret.return_value for ret in rets]
        if any(v is None for v in values):
            bad = next((r for r in records if not r or r.status != COMPLETED), None)
            reason = bad.error if bad and bad.error else "see its metrics.json"
            trial.set_user_attr("failed", f"{bad.status if bad else 'failed'}: {reason}")
            log.warning("Trial %d did not finish: %s", trial.number, reason)
            self._finish(study, trial, state=TrialState.FAIL)
            return True
        per_seed = [[float(v) for v in (value if self.objectives else [value])] for value in values]
        mean = [statistics.fmean(column) for column in zip(*per_seed, strict=True)]
        if self.seeds:
            std = [statistics.pstdev(column) for column in zip(*per_seed, strict=True)]
            shown = per_seed if self.objectives else [v for (v,) in per_seed]
            trial.set_user_attr("seed_values", dict(zip(map(str, self.seeds), shown, strict=True)))
            trial.set_user_attr("seed_std", std if self.objectives else std[0])
        self._finish(study, trial, values=mean)
        return True

    # -- after the trials -------------------------------------------------------------------------

    def _write_results(self, study: optuna.Study) -> None:
        results: dict[str, Any] = {"name": "optuna", "study": study.study_name}
        recipe = self._recipe_overrides()
        if len(self.directions) == 1:
            try:
                best = study.best_trial
            except ValueError:
                log.warning("No trial of study %r has completed; no best trial", study.study_name)
                return
            results |= {
                "best_params": best.params,
                "best_value": best.value,
                "best_trial": best.number,
                "rerun": self._rerun_command(best, recipe),
            }
            log.info("Best trial %d: value %s, params %s", best.number, best.value, best.params)
            log.info("Re-run it on the full training set: %s", results["rerun"])
        else:
            results["solutions"] = [
                {
                    "params": t.params,
                    "values": t.values,
                    "trial": t.number,
                    "rerun": self._rerun_command(t, recipe),
                }
                for t in study.best_trials
            ]
            log.info("Pareto front: %d trials", len(results["solutions"]))
            for s in results["solutions"]:
                log.info("  values %s, params %s: %s", s["values"], s["params"], s["rerun"])
        path = Path(self.config.hydra.sweep.dir) / "optimization_results.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(OmegaConf.create(results), path)

    def _recipe_overrides(self) -> list[str]:
        """``key=value`` for each ``hydra.sweeper.rerun_from_recipe`` key, as the default recipe
        has it: the config composed with the same group choices, minus the search preset and any
        value overrides."""
        keys = self.rerun_keys
        choices = self.config.hydra.runtime.choices
        parser = OverridesParser.create()
        groups = [
            o.input_line
            for o in parser.parse_overrides([f"{k}={v}" for k, v in self.fixed.items()])
            if o.key_or_group in choices and o.key_or_group != "hparams_search"
        ]
        recipe = self.hydra_context.config_loader.load_configuration(
            self.config.hydra.job.config_name, groups, RunMode.RUN
        )
        return [f"{k}={_as_override(OmegaConf.select(recipe, k))}" for k in keys]

    def _rerun_command(self, trial: FrozenTrial, recipe: list[str]) -> str:
        reset = {o.split("=", 1)[0] for o in recipe}
        kept = [o for o in self._job_overrides({}) if o.split("=", 1)[0].lstrip("+~") not in reset]
        chosen = [f"{k}={v}" for k, v in trial.params.items()]
        return shlex.join(["python", "-m", "mnist_sweep", *kept, *chosen, *recipe])
