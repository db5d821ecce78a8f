"""The study's ask/tell gateway: the study created or loaded, every trial asked and told through
one client, and, on an RDB storage, a heartbeat for each trial in flight, so that one left running
by a killed process is failed when a sweeper next asks, and re-tried once (a journal file has no
heartbeat)."""

from __future__ import annotations

import logging
import threading
import warnings
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.exceptions import ExperimentalWarning
from optuna.storages import BaseStorage, RDBStorage, fail_stale_trials
from optuna.trial import Trial, TrialState

from mnist_sweep import trial_attrs
from mnist_sweep.errors import ConfigError
from mnist_sweep.search.settings import Settings
from mnist_sweep.storage import hide_password, open_storage

log = logging.getLogger(__name__)


class StudyClient:
    """Asks the study for trials and tells it how they ended; keeps the trials in flight
    (``running``) beating until they are told."""

    def __init__(self, study: optuna.Study, storage: BaseStorage | None, interval: int) -> None:
        self.study, self.storage, self.interval = study, storage, interval
        self.running: dict[int, int] = {}  # trial number → id of the trials in flight
        self.done = threading.Event()  # the trials are over: the heartbeat stops

    @classmethod
    def open(cls, settings: Settings, sampler: optuna.samplers.BaseSampler) -> StudyClient:
        """The client of the study the settings name, created or loaded; ConfigError when it
        cannot be, or optimises otherwise."""
        url, interval = settings.storage, settings.heartbeat_interval
        storage = open_storage(url, interval) if url else None
        shown = hide_password(url) if url else None
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ExperimentalWarning)
                study = optuna.create_study(
                    study_name=settings.study_name,
                    storage=storage,
                    sampler=sampler,
                    pruner=settings.pruner,
                    directions=settings.directions,
                    load_if_exists=True,
                )
        except Exception as exc:  # e.g. a database that accepts the connection but not the user
            reason = str(exc).splitlines()[0].rstrip(".")
            raise ConfigError(
                f"hydra.sweeper.storage={shown!r}: the study {settings.study_name!r} could not be "
                f"created or loaded: {type(exc).__name__}: {reason}."
            ) from exc
        have = [d.name.lower() for d in study.directions]
        if have != [d.lower() for d in settings.directions]:
            raise ConfigError(
                f"study {study.study_name!r} in {shown} optimises {have}, but this search asks "
                f"for {settings.directions}; choose another hydra.sweeper.study_name."
            )
        return cls(study, storage, interval)

    def ask(self, space: dict[str, BaseDistribution]) -> Trial:
        """A new trial, and a heartbeat for it. A trial found stale is re-tried first: ``ask``
        takes its WAITING copy, whose parameters are already set, and it starts without the
        epochs it lost."""
        with warnings.catch_warnings():  # heartbeats are meant for optimize(); ours are here
            warnings.simplefilter("ignore")
            fail_stale_trials(self.study)
            trial = self.study.ask(fixed_distributions=space)
        if isinstance(self.storage, RDBStorage):
            study_id = self.storage.get_study_id_from_name(self.study.study_name)
            trial_id = self.storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
            self.storage.record_heartbeat(trial_id)
            self.running[trial.number] = trial_id
        trial_attrs.clear_job_progress(trial)
        return trial

    def tell(self, trial: Trial | int, **outcome: Any) -> None:
        """Tell the study how a trial ended; its heartbeat stops."""
        self.study.tell(trial, **outcome)
        self.running.pop(trial if isinstance(trial, int) else trial.number, None)

    def fail_running(self) -> None:
        """Fail every trial in flight: their jobs will never finish (Ctrl-C)."""
        for number in list(self.running):
            self.study.tell(number, state=TrialState.FAIL)

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
