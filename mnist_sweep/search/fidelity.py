"""Multi-fidelity search (``hydra/sweeper/fidelity=halving``): successive halving over the
training budget, each rung a complete schedule of its own length.

A proposal starts on rung 0: its job trains ``key = rungs[0]`` (e.g. ``trainer.epochs=2``) with
the whole recipe, schedule included, so it is judged at the end of a schedule, never in the middle
of a warm-up. Once rung ``r`` holds ``k`` completed trials, its best ``k // reduction_factor`` are
promoted: each gets a new trial with the same parameters on rung ``r + 1``, queued through
Optuna's public ``enqueue_trial`` and taken by the next ``ask`` of any worker sharing the study.
Higher rungs are promoted first. The rung and the trial it was promoted from are trial user
attributes (``rung``, ``promoted_from``), so everything is read back from the study's storage: a
resumed study, or a second process on a shared one, carries on where the study stands, and a
worker killed mid-rung loses only the trial it was training. Seed repeats
(``hydra.sweeper.seeds``) are paid on the top rung only; lower rungs train the first seed.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from mnist_sweep import trial_attrs
from mnist_sweep.errors import ConfigError

log = logging.getLogger(__name__)

KINDS = ("none", "halving")


@dataclass(frozen=True)
class Halving:
    """The rungs (``key`` values, increasing) and how many of each rung go on to the next."""

    key: str
    rungs: tuple[int, ...]
    reduction_factor: int

    def overrides(self, rung: int) -> list[str]:
        """What a job on ``rung`` trains with."""
        return [f"{self.key}={self.rungs[rung]}"]

    def promotion(self, study: optuna.Study) -> tuple[dict[str, Any], int, int] | None:
        """The next promotion (params, rung, the trial promoted), highest rung first; None
        when no rung has a best trial left to promote."""
        trials = study.get_trials(deepcopy=False)
        promoted = {trial_attrs.promoted_from(t) for t in trials} - {None}
        maximize = study.direction == StudyDirection.MAXIMIZE
        for rung in reversed(range(len(self.rungs) - 1)):
            done = [
                t
                for t in trials
                if t.state == TrialState.COMPLETE and (trial_attrs.rung(t) or 0) == rung
            ]
            done.sort(key=lambda t: t.value, reverse=maximize)
            for best in done[: len(done) // self.reduction_factor]:
                if best.number not in promoted:
                    return dict(best.params), rung + 1, best.number
        return None

    def enqueue_promotion(self, study: optuna.Study) -> None:
        """Queue the next promotion, if any, for the next ``ask`` of any worker."""
        found = self.promotion(study)
        if found is None:
            return
        params, rung, number = found
        study.enqueue_trial(params, user_attrs=trial_attrs.promotion(rung, number))
        log.info("Trial %d promoted to rung %d (%s=%d)", number, rung, self.key, self.rungs[rung])

    def check_epochs(self, max_epochs: int | None) -> None:
        """ConfigError when the last rung is over ``budget.max_epochs``."""
        if max_epochs is not None and self.rungs[-1] > max_epochs:
            raise ConfigError(
                f"hydra.sweeper.fidelity.rungs={list(self.rungs)}: the rung of {self.rungs[-1]} "
                f"epochs is over budget.max_epochs={max_epochs}; keep every rung within it."
            )

    def seeds_of(self, trial: optuna.trial.Trial | FrozenTrial, seeds: list[int]) -> list[int]:
        """The seeds a trial trains (``hydra.sweeper.seeds``): all of them on the top rung, the
        first below it, where a rung only ranks its trials for promotion."""
        return seeds if (trial_attrs.rung(trial) or 0) == len(self.rungs) - 1 else seeds[:1]


def from_config(
    node: Mapping[str, Any] | None,
    directions: list[str],
    pruner: optuna.pruners.BasePruner,
    space: Mapping[str, BaseDistribution],
) -> Halving | None:
    """The fidelity a ``hydra/sweeper/fidelity`` config asks for (None: every trial trains the
    full recipe); ConfigError naming the bad value and what is allowed."""
    node = dict(node or {})
    kind = node.get("kind", "none")
    if kind not in KINDS:
        raise ConfigError(
            f"hydra.sweeper.fidelity.kind={kind} is not a fidelity; choose "
            "hydra/sweeper/fidelity=none or halving."
        )
    if kind == "none":
        return None
    key, rungs, eta = node.get("key"), list(node.get("rungs") or []), node.get("reduction_factor")
    if len(directions) > 1:
        raise ConfigError(
            f"hydra/sweeper/fidelity=halving ranks trials by one objective, but this search has "
            f"{len(directions)} directions; use hydra/sweeper/fidelity=none with this preset."
        )
    if not isinstance(pruner, optuna.pruners.NopPruner):
        raise ConfigError(
            f"hydra/sweeper/fidelity=halving trains every rung to the end of its schedule, but "
            f"hydra/sweeper/pruner={type(pruner).__name__} would cut rungs short; use "
            "hydra/sweeper/pruner=none with it."
        )
    if key != "trainer.epochs":
        raise ConfigError(
            f"hydra.sweeper.fidelity.key={key} is not a training budget this sweeper can set; "
            "use trainer.epochs."
        )
    if key in space:
        raise ConfigError(
            f"hydra.sweeper.fidelity.key={key} is also searched in hydra.sweeper.params; the "
            "rungs set it, so remove it from the search space."
        )
    whole = all(isinstance(r, int) and not isinstance(r, bool) and r >= 1 for r in rungs)
    if len(rungs) < 2 or not whole or any(a >= b for a, b in zip(rungs, rungs[1:], strict=False)):
        raise ConfigError(
            f"hydra.sweeper.fidelity.rungs={rungs} must be two or more whole numbers of epochs, "
            "each above the one before, e.g. [2,4,8]."
        )
    if not isinstance(eta, int) or isinstance(eta, bool) or eta < 2:
        raise ConfigError(
            f"hydra.sweeper.fidelity.reduction_factor={eta} must be a whole number of 2 or more "
            "(3: the best third of a rung goes on to the next)."
        )
    return Halving(str(key), tuple(rungs), eta)
