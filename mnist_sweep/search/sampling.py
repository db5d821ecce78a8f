"""The study's sampler and pruner, built from the ``hydra/sweeper/sampler`` and ``pruner``
configs; the sampler reseeded per trial so that no session replays another's proposals."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import optuna
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.trial import FrozenTrial, TrialState

from mnist_sweep.errors import ConfigError
from mnist_sweep.search.schema import PRUNER_TARGETS, SAMPLER_TARGETS


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


def make_sampler(node: DictConfig) -> PerTrialSeed:
    """The sampler a ``hydra/sweeper/sampler`` config names, reseeded per trial; ConfigError for
    one the budget-aware sweeper cannot ask (the grid sampler)."""

    def make(seed: int | None) -> BaseSampler:
        cfg = OmegaConf.to_container(node, resolve=True)
        if seed is not None:
            cfg["seed"] = seed
        return instantiate(cfg, _execution_whitelist_=SAMPLER_TARGETS)

    sampler = make(None)
    if not isinstance(sampler, BaseSampler):  # the grid sampler is a partial: built per space
        raise ConfigError(
            f"hydra/sweeper/sampler={node._target_} is not supported by the "
            "budget-aware sweeper; use tpe (the default), random, cmaes, gp, qmc or nsgaii."
        )
    return PerTrialSeed(make, node.get("seed"))


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
