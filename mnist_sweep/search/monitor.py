"""Watching trials while they run: each job's epochs reported to its trial (and its pruner
asked), and the heartbeat that lets a killed worker's trials be found stale and re-tried."""

from __future__ import annotations

import logging
import statistics
import threading
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import optuna
from omegaconf import DictConfig
from optuna.distributions import BaseDistribution
from optuna.exceptions import ExperimentalWarning, UpdateFinishedTrialError
from optuna.storages import BaseStorage, RDBStorage, fail_stale_trials
from optuna.trial import Trial

from mnist_sweep.search.sampling import make_pruner
from mnist_sweep.search.schema import SWEEPER_TARGET
from mnist_sweep.storage import open_storage

log = logging.getLogger(__name__)

PRUNED_AT = "pruned_at_epoch"  # trial user attribute: the epoch a pruner stopped the trial
SEED_CURVE = "val_acc_seed_{}"  # trial user attribute: one seed job's validation accuracies


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
    job's ``hydra.sweeper``); None for any other job, a study in memory, a multi-objective
    study (Optuna prunes one objective) or ``hydra/sweeper/pruner=none``: nothing judges its
    epochs, so the job validates after its last epoch only (``trainer.val_every``)."""
    search = cfg.get("search") or {}
    direction = sweeper.get("direction")
    if (
        sweeper.get("_target_") != SWEEPER_TARGET
        or not sweeper.get("storage")
        or search.get("trial") is None
        or isinstance(direction, Sequence)
        and not isinstance(direction, str)
        and len(direction) > 1
    ):
        return None
    pruner = make_pruner(sweeper.pruner)
    if isinstance(pruner, optuna.pruners.NopPruner):
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        storage = open_storage(str(sweeper.storage))
        study = optuna.load_study(study_name=search["study"], storage=storage, pruner=pruner)
    study_id = storage.get_study_id_from_name(search["study"])
    trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, search["trial"])
    seeds = list(sweeper.seeds) if sweeper.get("seeds") else None
    trainer = cfg.trainer
    return EpochMonitor(study, storage, trial_id, trainer.seed, seeds, trainer.epochs)


class Heartbeat:
    """The trials this sweeper runs: on an RDB storage, a heartbeat is recorded for each until
    it is told, so that one left running by a killed process is failed when a sweeper next asks,
    and re-tried once (a journal file has no heartbeat)."""

    def __init__(self, storage: BaseStorage | None, interval: int) -> None:
        self.storage, self.interval = storage, interval
        self.running: dict[int, int] = {}  # trial number → id of the trials in flight
        self.done = threading.Event()  # the trials are over: the heartbeat stops

    def ask(self, study: optuna.Study, space: dict[str, BaseDistribution]) -> Trial:
        """A new trial, and a heartbeat for it. A trial found stale is re-tried first: ``ask``
        takes its WAITING copy, whose parameters are already set, and it starts without the
        epochs it lost."""
        with warnings.catch_warnings():  # heartbeats are meant for optimize(); ours are here
            warnings.simplefilter("ignore")
            fail_stale_trials(study)
            trial = study.ask(fixed_distributions=space)
        if isinstance(self.storage, RDBStorage):
            study_id = self.storage.get_study_id_from_name(study.study_name)
            trial_id = self.storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
            self.storage.record_heartbeat(trial_id)
            self.running[trial.number] = trial_id
        for key in list(trial.user_attrs):
            if key == PRUNED_AT or key.startswith(SEED_CURVE.format("")):
                trial.set_user_attr(key, None)
        return trial

    def tell(self, study: optuna.Study, trial: Trial | int, **outcome: Any) -> None:
        """Tell the study how a trial ended; its heartbeat stops."""
        study.tell(trial, **outcome)
        self.running.pop(trial if isinstance(trial, int) else trial.number, None)

    def start(self) -> None:
        if self.storage is not None:
            threading.Thread(target=self._beat, daemon=True).start()

    def stop(self) -> None:
        self.done.set()

    def _beat(self) -> None:
        while not self.done.wait(self.interval):
            for trial_id in list(self.running.values()):
                try:
                    self.storage.record_heartbeat(trial_id)
                except Exception as exc:  # a busy database: the next beat comes soon
                    log.warning("heartbeat not recorded: %s: %s", type(exc).__name__, exc)
