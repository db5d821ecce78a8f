"""A trial's epochs, reported from its jobs: each job's validation accuracy after every epoch
recorded as the trial's intermediate value, and the study's pruner asked whether to go on."""

from __future__ import annotations

import logging
import statistics
import warnings
from collections.abc import Mapping
from typing import Any

import optuna
from optuna.exceptions import ExperimentalWarning, UpdateFinishedTrialError
from optuna.storages import BaseStorage

from mnist_sweep import trial_attrs
from mnist_sweep.search.sampling import make_pruner
from mnist_sweep.storage import open_storage

log = logging.getLogger(__name__)


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
                    self.trial_id, trial_attrs.seed_curve_key(self.seed), self.curve
                )
                frozen = self.storage.get_trial(self.trial_id)
                curves = [trial_attrs.seed_curve(frozen, s) for s in self.seeds]
                value = statistics.fmean(c[epoch - 1] for c in curves if len(c) >= epoch)
            self.storage.set_trial_intermediate_value(self.trial_id, epoch, value)
            trial = self.storage.get_trial(self.trial_id)
            if epoch == self.epochs:  # the last epoch: nothing left to save
                return False
            if trial_attrs.pruned_at(trial) is not None:
                return True
            if self.study.pruner.prune(self.study, trial):
                self.storage.set_trial_user_attr(self.trial_id, trial_attrs.PRUNED_AT, epoch)
                log.info("trial %d pruned after epoch %d (value %.4f)", trial.number, epoch, value)
                return True
        except UpdateFinishedTrialError:  # failed as stale meanwhile: nothing left to report to
            log.warning("trial of this job is no longer running; not reporting epoch %d", epoch)
        return False

    @classmethod
    def of_trial(
        cls, sweeper: Mapping[str, Any], study_name: str, number: int, trainer: Mapping[str, Any]
    ) -> EpochMonitor | None:
        """The monitor of a job of trial ``number`` (its ``trainer`` settings) in a study on an
        RDB storage (``sweeper``: the job's ``hydra.sweeper``); None when its pruner is
        ``none``: nothing judges its epochs."""
        pruner = make_pruner(sweeper["pruner"])
        if isinstance(pruner, optuna.pruners.NopPruner):
            return None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ExperimentalWarning)
            storage = open_storage(str(sweeper["storage"]))
            study = optuna.load_study(study_name=study_name, storage=storage, pruner=pruner)
        study_id = storage.get_study_id_from_name(study_name)
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, number)
        seeds = list(sweeper["seeds"]) if sweeper.get("seeds") else None
        return cls(study, storage, trial_id, trainer["seed"], seeds, trainer["epochs"])
