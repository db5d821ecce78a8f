"""The ``budget`` Hydra sweeper: settings checked, space parsed, study opened, slots run,
results written; each job is done by its own module of this package."""

from __future__ import annotations

import logging
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import optuna
from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict
from optuna.exceptions import ExperimentalWarning

from mnist_sweep.config import validate, validate_search
from mnist_sweep.errors import ConfigError, UserError
from mnist_sweep.record import OBJECTIVES
from mnist_sweep.search import outcome
from mnist_sweep.search.budget import Proposer, check_space
from mnist_sweep.search.fidelity import from_config
from mnist_sweep.search.monitor import Heartbeat
from mnist_sweep.search.sampling import make_pruner, make_sampler
from mnist_sweep.search.scheduler import Slots
from mnist_sweep.search.space import Space
from mnist_sweep.storage import hide_password, open_storage

log = logging.getLogger("mnist_sweep.search")


class BudgetSweeper(Sweeper):
    """The ``budget`` Hydra sweeper: Optuna ask/tell under the parameter budget, with pruning,
    seed repeats, refilled slots and heartbeats; see :class:`BudgetSweeperConf` for its
    settings."""

    def __init__(
        self,
        sampler: DictConfig,
        pruner: DictConfig,
        fidelity: DictConfig,
        direction: Any,
        storage: str | None,
        study_name: str | None,
        n_trials: int,
        n_jobs: int,
        timeout: float | None,
        max_failure_rate: float,
        params: DictConfig | None,
        seeds: Sequence[int] | None,
        heartbeat_interval: int,
        max_refused: int | None,
        objectives: Sequence[str] | None,
        rerun_from_recipe: Sequence[str],
        run_reports: bool,
    ) -> None:
        self.sampler_cfg, self.pruner_cfg = sampler, pruner
        self.fidelity_cfg = OmegaConf.to_container(fidelity, resolve=True) if fidelity else None
        many = isinstance(direction, Sequence) and not isinstance(direction, str)
        self.directions = [str(d) for d in direction] if many else [str(direction)]
        self.storage_url, self.study_name = storage, study_name
        self.n_trials, self.n_jobs, self.max_failure_rate = n_trials, n_jobs, max_failure_rate
        self.timeout = timeout
        self.params = dict(params or {})
        self.seeds = None if seeds is None else list(seeds)
        self.heartbeat_interval = heartbeat_interval
        self.max_refused = max_refused
        self.objective_names = None if objectives is None else list(objectives)
        self.rerun_keys = list(rerun_from_recipe or [])
        self.run_reports = run_reports  # read by the jobs (``run_report`` of run.execute)

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

    def _search(self, arguments: list[str]) -> None:
        pruner = self._check_settings()
        space = Space.parse([*(f"{k}={v}" for k, v in self.params.items()), *arguments])
        objectives = self._check_objectives()
        fidelity = from_config(self.fidelity_cfg, self.directions, pruner, space.dists)
        max_params = check_space(space, self._compose, fidelity)
        sampler = make_sampler(self.sampler_cfg)
        url, interval = self.storage_url, self.heartbeat_interval
        storage = open_storage(url, interval) if url else None
        heartbeat = Heartbeat(storage, interval)
        study = self._open_study(storage, sampler, pruner)
        log.info(
            "Study %r in %s (%d trials so far), directions %s, sampler %s, pruner %s, seeds %s, "
            "fidelity %s",
            study.study_name,
            hide_password(self.storage_url) if self.storage_url else "memory",
            len(study.trials),
            self.directions,
            self.sampler_cfg._target_,
            type(pruner).__name__,
            self.seeds,
            fidelity or "none",
        )
        proposer = Proposer(space, self._compose, heartbeat, max_params, self.max_refused, fidelity)
        outcomes = outcome.Outcomes(heartbeat, self.seeds, objectives)
        slots = Slots(
            self.launcher,
            self.config.hydra.launcher._target_,
            self.n_trials,
            self.n_jobs,
            self.timeout,
            self.seeds,
            self.max_failure_rate,
            proposer,
            outcomes,
            heartbeat,
            fidelity,
        )
        slots.run(study)
        recipe = outcome.recipe_overrides(self.hydra_context, self.config, space, self.rerun_keys)
        outcome.write_results(
            study,
            Path(self.config.hydra.sweep.dir),
            lambda trial: outcome.rerun_command(trial, space, recipe),
        )

    def _compose(self, overrides: list[str]) -> dict[str, Any]:
        """The job config for these overrides, validated, as plain data (raises ConfigError)."""
        cfg = self.hydra_context.config_loader.load_sweep_config(self.config, overrides)
        with open_dict(cfg):
            del cfg["hydra"]
        return validate(cfg)

    def _check_settings(self) -> optuna.pruners.BasePruner:
        """The pruner, once every setting is known good; ConfigError naming each bad one."""
        validate_search(self.n_trials, self.directions, self.study_name)
        problems = []
        if self.n_jobs < 1:
            problems.append(f"hydra.sweeper.n_jobs={self.n_jobs} must be 1 or more")
        if self.timeout is not None and not self.timeout > 0:
            problems.append(
                f"hydra.sweeper.timeout={self.timeout:g} must be a number of seconds above 0, or "
                "null (no time limit)"
            )
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
        pruner = make_pruner(self.pruner_cfg)
        if isinstance(pruner, optuna.pruners.NopPruner):
            return pruner
        choice = self.config.hydra.runtime.choices.get("hydra/sweeper/pruner")
        name = f"{choice} ({type(pruner).__name__})"
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
        return pruner

    def _check_objectives(self) -> list[str] | None:
        """The metrics.json fields of a multi-objective search (None for one objective)."""
        names, n_directions = self.objective_names, len(self.directions)
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

    def _open_study(
        self,
        storage: optuna.storages.BaseStorage | None,
        sampler: optuna.samplers.BaseSampler,
        pruner: optuna.pruners.BasePruner,
    ) -> optuna.Study:
        """Create or load the study; ConfigError when it cannot be, or optimises otherwise."""
        shown = hide_password(self.storage_url) if self.storage_url else None
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ExperimentalWarning)
                study = optuna.create_study(
                    study_name=self.study_name,
                    storage=storage,
                    sampler=sampler,
                    pruner=pruner,
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
