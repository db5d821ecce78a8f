"""The search's settings (``hydra.sweeper.*``): built once from the sweeper's arguments and
checked once, here, before any study (or study file) is created; every bad value is named with
what is allowed. The schema with their defaults is ``schema.SearchSweeperConf``."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from omegaconf import DictConfig, OmegaConf

from mnist_sweep import checks
from mnist_sweep.errors import ConfigError

DIRECTIONS = ("minimize", "maximize")
STUDY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")  # it names files and pages
# the settings taken as the sweeper's config gives them (the others are reshaped in ``of``)
AS_GIVEN = (
    "sampler",
    "storage",
    "study_name",
    "n_trials",
    "n_jobs",
    "timeout",
    "max_failure_rate",
    "heartbeat_interval",
    "max_refused",
    "run_reports",
)


def directions_of(direction: Any) -> list[str]:
    """``hydra.sweeper.direction`` as a list of Optuna directions: one, or one per objective."""
    many = isinstance(direction, Sequence) and not isinstance(direction, str)
    return [str(d) for d in direction] if many else [str(direction)]


@dataclass(frozen=True)
class Settings:
    """Every ``hydra.sweeper`` setting, as plain values, known good (see :meth:`of`)."""

    sampler: DictConfig  # hydra/sweeper/sampler: built by sampling.make_sampler
    pruner: Any  # the Optuna pruner hydra/sweeper/pruner names
    fidelity: dict[str, Any] | None  # hydra/sweeper/fidelity, read by fidelity.from_config
    directions: list[str]
    storage: str | None
    study_name: str | None
    n_trials: int
    n_jobs: int
    timeout: float | None
    max_failure_rate: float
    params: dict[str, Any]
    seeds: list[int] | None
    heartbeat_interval: int
    max_refused: int | None
    objectives: list[str] | None  # the metrics.json fields of several objectives; None for one
    rerun_from_recipe: list[str]
    run_reports: bool  # whether each job writes its report.html (read by the jobs' __main__)

    @classmethod
    def of(cls, raw: Mapping[str, Any], pruner_choice: str | None) -> Settings:
        """The sweeper's arguments (``raw``: its config node's keys), checked; ConfigError naming
        each bad one. ``pruner_choice`` is the ``hydra/sweeper/pruner`` option, for messages."""
        directions = directions_of(raw["direction"])
        fidelity = raw["fidelity"]
        seeds = raw["seeds"]
        settings = cls(
            **{key: raw[key] for key in AS_GIVEN},
            pruner=None,
            fidelity=OmegaConf.to_container(fidelity, resolve=True) if fidelity else None,
            directions=directions,
            params=dict(raw["params"] or {}),
            seeds=None if seeds is None else list(seeds),
            objectives=None if raw["objectives"] is None else list(raw["objectives"]),
            rerun_from_recipe=list(raw["rerun_from_recipe"] or []),
        )
        settings._check_values()
        pruner = settings._check_pruner(raw["pruner"], pruner_choice)
        return replace(settings, pruner=pruner, objectives=settings._check_objectives())

    def _check_values(self) -> None:
        """The study's own settings first (the first bad one), then every other bad one."""
        checks.number("hydra.sweeper.n_trials", self.n_trials, 1, integer=True)
        for direction in self.directions:
            checks.choice("hydra.sweeper.direction", direction, DIRECTIONS)
        if self.study_name is not None and not STUDY_NAME.fullmatch(str(self.study_name)):
            raise checks.refuse(
                "hydra.sweeper.study_name",
                self.study_name,
                "1 to 100 letters, digits, '_', '.' or '-', starting with a letter or digit",
            )
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

    def _check_pruner(self, node: Any, choice: str | None) -> Any:
        """The pruner ``node`` names, once it can judge this study's trials."""
        import optuna

        from mnist_sweep.search.sampling import make_pruner

        pruner = make_pruner(node)
        if isinstance(pruner, optuna.pruners.NopPruner):
            return pruner
        name = f"{choice} ({type(pruner).__name__})"
        if len(self.directions) > 1:
            raise ConfigError(
                f"hydra/sweeper/pruner={name} cannot prune a multi-objective study "
                f"({len(self.directions)} directions): Optuna's pruners judge one objective; use "
                "hydra/sweeper/pruner=none with this preset."
            )
        if not self.storage:
            raise ConfigError(
                f"hydra/sweeper/pruner={name} needs hydra.sweeper.storage: jobs report each epoch "
                "through it; give sqlite:///studies/NAME.db or another Optuna RDB URL."
            )
        return pruner

    def _check_objectives(self) -> list[str] | None:
        """The metrics.json fields of a multi-objective search (None for one objective)."""
        from mnist_sweep.record import OBJECTIVES

        names, n_directions = self.objectives, len(self.directions)
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
