"""Budget-aware proposals: every trial the sampler proposes is composed into its job config and
checked against ``budget.max_params``, ``budget.max_macs`` and ``budget.max_epochs`` before it may
train.

One over budget never trains: it is told to the study as PRUNED, with its parameter count as the
``params`` user attribute and an Optuna constraint per limit, so the sampler learns to avoid that
region, and a new proposal takes its place. An invalid one is told as FAILED. Every trial is asked
and told through the search's one ``StudyClient``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from optuna.trial import Trial, TrialState

from mnist_sweep import models, trial_attrs
from mnist_sweep.errors import BudgetError, ConfigError
from mnist_sweep.record import Budget
from mnist_sweep.search.client import StudyClient
from mnist_sweep.search.fidelity import Halving
from mnist_sweep.search.space import Space, lowest

log = logging.getLogger(__name__)

# the Optuna constraint of every counted trial: its parameters over budget.max_params (a trial
# with a value above 0 is infeasible)
MAX_PARAMS_CONSTRAINT = "params_over_budget"
# and its multiply-adds per image over budget.max_macs, set only when that limit is (a study
# searched without it keeps the one constraint above)
MAX_MACS_CONSTRAINT = "macs_over_budget"
Compose = Callable[[list[str]], dict[str, Any]]  # job overrides → validated plain job config
Proposal = tuple[Trial, list[str]]  # a trial and its job's overrides


def check_space(space: Space, compose: Compose, fidelity: Halving | None) -> int | None:
    """Refuse a search in which no trial could train: scored on no validation split, or whose
    smallest model is over the budget (or its rungs over the epoch limit); before anything
    trains. Returns ``budget.max_params``."""
    corner = lowest(space.dists)
    smallest = compose([*space.overrides(corner), *(fidelity.overrides(0) if fidelity else [])])
    if not smallest["data"]["val_size"]:
        raise ConfigError(
            "data.val_size=0: a search is scored on a validation split held out of the "
            "training images, never on the test set; set data.val_size > 0 (e.g. 10000)."
        )
    table = models.architecture(smallest["model"], smallest["allowed_targets"])
    params, macs = sum(x.params for x in table), sum(x.macs for x in table)
    shown = " ".join(f"{k}={v}" for k, v in corner.items())
    for key, count, what in (
        ("max_params", params, "trainable parameters"),
        ("max_macs", macs, "multiply-adds per image"),
    ):
        limit = smallest["budget"].get(key)
        if limit is not None and count > limit:
            raise ConfigError(
                f"no model in this search space fits budget.{key}={limit:,.0f}: even the one at "
                f"the low end of every range ({shown}) has {count:,} {what}. Lower the ranges in "
                "hydra.sweeper.params or raise the budget."
            )
    if fidelity:
        fidelity.check_epochs(smallest["budget"]["max_epochs"])
    try:
        Budget.of(smallest["budget"]).check(params, smallest["trainer"]["epochs"])
    except BudgetError as exc:  # the epoch limit
        raise ConfigError(f"every trial of this search would be {exc}") from exc
    return smallest["budget"]["max_params"]


class Proposer:
    """Asks the study for trials until one fits the budget; counts the refused ones."""

    def __init__(
        self,
        space: Space,
        compose: Compose,
        max_params: int | None,
        max_refused: int | None,
        fidelity: Halving | None = None,
    ) -> None:
        self.space, self.compose = space, compose
        self.max_params, self.max_refused = max_params, max_refused
        self.fidelity = fidelity
        self.refused = 0

    def next(self, client: StudyClient, trained: int) -> Proposal:
        """The next proposal that fits the budget; ConfigError after too many refusals
        (``hydra.sweeper.max_refused``)."""
        while True:
            proposal = self.propose(client)
            if proposal:
                return proposal
            self.refused += 1
            if self.max_refused is not None and self.refused > self.max_refused:
                raise ConfigError(
                    f"{self.refused} proposals were refused before training, more than "
                    f"hydra.sweeper.max_refused={self.max_refused}, after {trained} "
                    "trials trained: the sampler keeps proposing models over "
                    f"budget.max_params={self.max_params} or budget.max_macs (or invalid "
                    "ones, see the log). "
                    "Narrow the ranges in hydra.sweeper.params or raise the budget."
                )

    def propose(self, client: StudyClient) -> Proposal | None:
        """Ask for one trial; None if it was refused before training (and told to the study).
        With a fidelity, a promotion due is queued first, so this ``ask`` takes it."""
        if self.fidelity:
            self.fidelity.enqueue_promotion(client.study)
        trial = client.ask(self.space.dists)
        rung = []
        if self.fidelity:
            number = trial_attrs.rung(trial) or 0
            trial_attrs.set_rung(trial, number, self.fidelity.rungs[number])
            rung = self.fidelity.overrides(number)
        overrides = [
            *self.space.overrides(trial.params),
            *rung,
            f"++search.study={client.study.study_name}",
            f"++search.trial={trial.number}",
        ]
        try:
            plain = self.compose(overrides)
            table = models.architecture(plain["model"], plain["allowed_targets"])
        except ConfigError as exc:
            trial_attrs.set_refused(trial, str(exc))
            client.tell(trial, state=TrialState.FAIL)
            log.warning("Trial %d refused, invalid config: %s", trial.number, exc)
            return None
        params, macs = sum(x.params for x in table), sum(x.macs for x in table)
        trial_attrs.set_params(trial, params)
        if self.max_params is not None:
            trial.set_constraint(MAX_PARAMS_CONSTRAINT, params - self.max_params)
        budget = Budget.of(plain["budget"])
        if budget.max_macs is not None:
            trial.set_constraint(MAX_MACS_CONSTRAINT, macs - budget.max_macs)
        try:
            budget.check(params, plain["trainer"]["epochs"], macs)
        except BudgetError as exc:
            trial_attrs.set_refused(trial, str(exc))
            client.tell(trial, state=TrialState.PRUNED)
            log.info("Trial %d %s", trial.number, exc)
            return None
        return trial, overrides
