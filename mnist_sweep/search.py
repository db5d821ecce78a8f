"""Optuna search under the parameter budget: a budget-aware Hydra sweeper and its study.

``hparams_search=...`` presets select :class:`BudgetSweeper`, the Optuna sweeper plugin with three
changes, all made before a job is launched:

* every proposal is composed into its job config and checked against ``budget.max_params``; one
  over budget never trains: it is told to the study as PRUNED, with its parameter count as the
  ``params`` user attribute and an Optuna constraint, so the sampler learns to avoid that region,
  and a new proposal takes its place until ``n_trials`` trials have trained;
* the sampler draws trial ``n`` with seed ``seed + n`` (:class:`PerTrialSeed`), so a resumed study,
  or a second process on a shared one, never replays earlier proposals;
* bad input (empty or inverted range, a space whose smallest model is over budget, a storage that
  cannot be opened, an objective on the test set) stops the search with one clear message.

At the end, ``optimization_results.yaml`` gets, beside Hydra's usual keys, a command that re-runs
the best trial (or each Pareto solution) as a plain run on the full training set.
"""

from __future__ import annotations

import logging
import shlex
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import optuna
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.utils import JobReturn, JobStatus
from hydra.types import RunMode
from hydra.utils import instantiate
from hydra_plugins.hydra_optuna_sweeper._impl import (
    OptunaSweeperImpl,
    create_params_from_overrides,
)
from omegaconf import DictConfig, OmegaConf, open_dict
from optuna.distributions import BaseDistribution, CategoricalDistribution
from optuna.samplers import BaseSampler
from optuna.trial import FrozenTrial, Trial, TrialState

from mnist_sweep import artifacts, models
from mnist_sweep.config import validate
from mnist_sweep.errors import BudgetError, ConfigError, UserError
from mnist_sweep.record import OBJECTIVES, Budget, RunRecord
from mnist_sweep.storage import hide_password, open_storage

log = logging.getLogger(__name__)

# what a sampler config's ``_target_`` may name, as in the Optuna sweeper plugin
SAMPLER_TARGETS = ("hydra_plugins.hydra_optuna_sweeper.*", "optuna.samplers.*")
BUDGET_CONSTRAINT = "params_over_budget"


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


def parse_space(
    overrides: Sequence[str],
) -> tuple[dict[str, BaseDistribution], dict[str, Any], list[str]]:
    """Search distributions, fixed values and deletions, as the plugin reads them; one override
    at a time, so an empty or inverted range is named in the error."""
    space: dict[str, BaseDistribution] = {}
    fixed: dict[str, Any] = {}
    deletions: list[str] = []
    for override in overrides:
        try:
            dists, values, dels = create_params_from_overrides([override])
        except (ValueError, AssertionError) as exc:
            raise ConfigError(
                f"the search range {override!r} is empty or inverted ({exc}); give "
                "range(low, stop[, step]) with stop past low (stop is excluded), "
                "interval(low, high) with low <= high, or choice(a, b, ...)."
            ) from exc
        for name in (*dists, *values):  # a later override of a key replaces an earlier one
            space.pop(name, None)
            fixed.pop(name, None)
        space |= dists
        fixed |= values
        deletions += dels
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


class BudgetSweeper(OptunaSweeperImpl):
    """Hydra's Optuna sweeper, budget-aware and resumable; see the module docstring.

    Takes the plugin's config (``hydra/sweeper=optuna``) unchanged; search settings that are not
    the plugin's live in the task config's ``search`` node (``max_refused``, ``objectives``,
    ``rerun_from_recipe``).
    """

    def __init__(
        self,
        sampler: DictConfig,
        direction: Any,
        storage: str | None,
        study_name: str | None,
        n_trials: int,
        n_jobs: int,
        max_failure_rate: float,
        custom_search_space: str | None,
        params: DictConfig | None,
    ) -> None:
        super().__init__(
            None,
            direction,
            storage,
            study_name,
            n_trials,
            n_jobs,
            max_failure_rate,
            custom_search_space,
            params,
        )
        self.sampler_cfg = sampler
        self.space: dict[str, BaseDistribution] = {}  # the search space, set by sweep()
        self.fixed: dict[str, Any] = {}  # overrides every trial gets (command line, fixed params)
        self.deletions: list[str] = []
        self.objectives: list[str] | None = None  # metrics.json fields of a multi-objective job
        self.max_params: int | None = None

    def sweep(self, arguments: list[str]) -> None:
        try:
            self._search(arguments)
        except UserError as exc:
            log.error("%s", exc)
            sys.exit(2)

    # -- before any job: the space, the budget, the storage ---------------------------------------

    def _search(self, arguments: list[str]) -> None:
        self._process_searchspace_config()
        space, fixed, deletions = parse_space([*self._parse_sweeper_params_config(), *arguments])
        self.space, self.fixed, self.deletions = space, fixed, deletions
        directions = self._get_directions()
        self.objectives = self._check_objectives(len(directions))
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
        study = self._open_study(directions)
        log.info(
            "Study %r in %s (%d trials so far), directions %s, sampler %s",
            study.study_name,
            hide_password(self.storage) if self.storage else "memory",
            len(study.trials),
            directions,
            self.sampler_cfg._target_,
        )
        self._run_trials(study)
        self._write_results(study, directions)

    def _check_objectives(self, n_directions: int) -> list[str] | None:
        names = OmegaConf.select(self.config, "search.objectives", default=None)
        if names is None and n_directions == 1:
            return None
        names = list(names or [])
        if len(names) != n_directions or not set(names) <= set(OBJECTIVES):
            raise ConfigError(
                f"search.objectives={names} must name one metrics.json field per "
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

    def _open_study(self, directions: list[str]) -> optuna.Study:
        shown = hide_password(self.storage) if self.storage else None
        storage = open_storage(self.storage) if self.storage else None
        try:
            study = optuna.create_study(
                study_name=self.study_name,
                storage=storage,
                sampler=self.sampler,
                directions=directions,
                load_if_exists=True,
            )
        except Exception as exc:  # e.g. a database that accepts the connection but not the user
            reason = str(exc).splitlines()[0].rstrip(".")
            raise ConfigError(
                f"hydra.sweeper.storage={shown!r}: the study {self.study_name!r} could not be "
                f"created or loaded: {type(exc).__name__}: {reason}."
            ) from exc
        have = [d.name.lower() for d in study.directions]
        if have != [d.lower() for d in directions]:
            raise ConfigError(
                f"study {study.study_name!r} in {shown} optimises {have}, but this search asks "
                f"for {directions}; choose another hydra.sweeper.study_name."
            )
        return study

    # -- the trials -------------------------------------------------------------------------------

    def _job_overrides(self, values: Mapping[str, Any]) -> list[str]:
        return [
            *(f"{k}={v}" for k, v in {**values, **self.fixed}.items()),
            *self.deletions,
        ]

    def _compose(self, overrides: list[str]) -> dict[str, Any]:
        """The job config for these overrides, validated, as plain data (raises ConfigError)."""
        cfg = self.hydra_context.config_loader.load_sweep_config(self.config, overrides)
        with open_dict(cfg):
            del cfg["hydra"]
        return validate(cfg)

    def _propose(self, study: optuna.Study) -> tuple[Trial, list[str]] | None:
        """Ask for one trial; None if it was refused before training (and told to the study)."""
        trial = study.ask()
        overrides = [
            *self._configure_trials([trial], self.space, self.fixed, self.deletions)[0],
            f"++search.study={study.study_name}",
            f"++search.trial={trial.number}",
        ]
        try:
            plain = self._compose(overrides)
            params = models.count_params(plain["model"], plain["allowed_targets"])
        except ConfigError as exc:
            trial.set_user_attr("refused", str(exc))
            study.tell(trial, state=TrialState.FAIL)
            log.warning("Trial %d refused, invalid config: %s", trial.number, exc)
            return None
        trial.set_user_attr("params", params)
        if self.max_params is not None:
            trial.set_constraint(BUDGET_CONSTRAINT, params - self.max_params)
        try:
            Budget.of(plain["budget"]).check(params, plain["trainer"]["epochs"])
        except BudgetError as exc:
            trial.set_user_attr("refused", str(exc))
            study.tell(trial, state=TrialState.PRUNED)
            log.info("Trial %d %s", trial.number, exc)
            return None
        return trial, overrides

    def _run_trials(self, study: optuna.Study) -> None:
        max_refused = OmegaConf.select(self.config, "search.max_refused", default=None)
        trained = refused = 0
        while trained < self.n_trials:
            batch: list[tuple[Trial, list[str]]] = []
            while len(batch) < min(self.n_jobs, self.n_trials - trained):
                proposal = self._propose(study)
                if proposal:
                    batch.append(proposal)
                    continue
                refused += 1
                if max_refused is not None and refused > max_refused:
                    raise ConfigError(
                        f"{refused} proposals were refused before training, more than "
                        f"search.max_refused={max_refused}, after {trained} trials trained: the "
                        "sampler keeps proposing models over budget.max_params="
                        f"{self.max_params} (or invalid ones, see the log). Narrow the ranges in "
                        "hydra.sweeper.params or raise the budget."
                    )
            try:
                returns = self.launcher.launch([o for _, o in batch], initial_job_idx=self.job_idx)
            except BaseException:  # Ctrl-C or a launcher error: these trials will never finish
                for trial, _ in batch:
                    study.tell(trial, state=TrialState.FAIL)
                raise
            self.job_idx += len(returns)
            told = [self._tell(study, t, ret) for (t, _), ret in zip(batch, returns, strict=True)]
            crashed = [ret for ret, ok in zip(returns, told, strict=True) if not ok]
            trained += len(batch)
            if crashed and len(crashed) / len(returns) > self.max_failure_rate:
                log.error(
                    "%d of %d jobs raised (hydra.sweeper.max_failure_rate=%s)",
                    len(crashed),
                    len(returns),
                    self.max_failure_rate,
                )
                crashed[0].return_value  # noqa: B018 - JobReturn re-raises the job's exception
        asked = trained + refused
        log.info(
            "%d trials trained, %d proposals refused before training (%.0f%% of %d asked)",
            trained,
            refused,
            100 * refused / asked,
            asked,
        )

    def _tell(self, study: optuna.Study, trial: Trial, ret: JobReturn) -> bool:
        """Tell the study how a job ended; False if the job raised (not a refused or failed run,
        which returns None and is recorded as failed in its metrics.json)."""
        record = None
        if ret.hydra_cfg is not None:
            run_dir = Path(ret.hydra_cfg.hydra.runtime.output_dir)
            trial.set_user_attr("run_dir", str(run_dir))
            if (run_dir / artifacts.METRICS).exists():
                record = RunRecord.read(run_dir)
                trial.set_user_attr("test_acc", record.test_acc)
        if ret.status != JobStatus.COMPLETED:
            study.tell(trial, state=TrialState.FAIL)
            return False
        value = ret.return_value
        if value is None:
            reason = record.error if record and record.error else "see its metrics.json"
            trial.set_user_attr("failed", f"{record.status if record else 'failed'}: {reason}")
            log.warning("Trial %d did not finish: %s", trial.number, reason)
            study.tell(trial, state=TrialState.FAIL)
            return True
        values = [float(v) for v in (value if self.objectives else [value])]
        study.tell(trial, values=values)
        return True

    # -- after the trials -------------------------------------------------------------------------

    def _write_results(self, study: optuna.Study, directions: list[str]) -> None:
        results: dict[str, Any] = {"name": "optuna", "study": study.study_name}
        recipe = self._recipe_overrides()
        if len(directions) == 1:
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
        """``key=value`` for each ``search.rerun_from_recipe`` key, as the default recipe has it:
        the config composed with the same group choices, minus the search preset and any value
        overrides."""
        keys = list(OmegaConf.select(self.config, "search.rerun_from_recipe", default=[]) or [])
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
