"""The job slots: ``n_jobs`` trials at once, each launched as one job per seed it trains, until
``n_trials`` have trained or ``timeout`` seconds have passed (trials running then finish).

With a launcher that runs jobs outside this process and more trials than slots, ``n_jobs`` worker
threads each ask, launch one trial and tell, so a slot is refilled as soon as its trial ends; the
basic launcher runs jobs in this process and is not thread-safe: one worker launches batches of
``n_jobs`` trials (all that remain, when they fit in the slots at once).
"""

from __future__ import annotations

import logging
import threading
import time

import optuna
from hydra.core.utils import JobStatus
from hydra.plugins.launcher import Launcher
from optuna.trial import TrialState

from mnist_sweep.search.client import StudyClient
from mnist_sweep.search.fidelity import Halving
from mnist_sweep.search.launchers import thread_safe
from mnist_sweep.search.outcome import Outcomes
from mnist_sweep.search.proposals import Proposal, Proposer
from mnist_sweep.search.settings import Settings

log = logging.getLogger(__name__)


class Slots:
    """Runs ``n_trials`` trials that train, ``n_jobs`` at a time, through ``launcher`` (whose
    ``_target_`` is ``launcher_target``); every trial asked and told through ``client``."""

    def __init__(
        self,
        settings: Settings,
        client: StudyClient,
        launcher: Launcher,
        launcher_target: str,
        proposer: Proposer,
        fidelity: Halving | None = None,
    ) -> None:
        self.client, self.launcher, self.target = client, launcher, launcher_target
        self.proposer, self.fidelity = proposer, fidelity
        self.n_trials, self.n_jobs, self.seeds = settings.n_trials, settings.n_jobs, settings.seeds
        self.timeout, self.deadline = settings.timeout, float("inf")
        self.max_failure_rate = settings.max_failure_rate
        self.outcomes = Outcomes(settings.seeds, settings.objectives)
        self.lock = threading.Lock()  # the study's sampler, the counters, job numbers
        self.stop = threading.Event()  # a worker failed: the others start nothing new
        self.claimed = self.trained = self.job_idx = 0

    def run(self) -> None:
        threaded = self.n_jobs > 1 and self.n_trials > self.n_jobs
        if threaded and not thread_safe(self.target):
            log.info(
                "%s runs jobs in this process, one launch at a time: trials run in batches of "
                "%d; hydra/launcher=joblib refills each slot as soon as its trial ends",
                self.target.rsplit(".", 1)[-1],
                self.n_jobs,
            )
            threaded = False
        self.client.start()
        start = time.perf_counter()
        if self.timeout is not None:
            self.deadline = start + self.timeout
        try:
            if threaded:
                self._threads()
            else:
                self._worker(self.n_jobs, None)
        finally:
            self.client.stop()
        elapsed = time.perf_counter() - start
        if self.trained < self.n_trials and time.perf_counter() > self.deadline:
            log.info("hydra.sweeper.timeout=%g s passed: no further trial started", self.timeout)
        refused = self.proposer.refused
        asked = self.trained + refused
        log.info(
            "%d trials trained, %d proposals refused before training (%.0f%% of %d asked); "
            "job slots busy %.0f%% of %.1f s",
            self.trained,
            refused,
            100 * refused / max(1, asked),
            asked,
            100 * self.outcomes.busy_seconds / (self.n_jobs * len(self.seeds or [0]) * elapsed),
            elapsed,
        )

    def _threads(self) -> None:
        errors: list[BaseException] = []
        workers = [
            threading.Thread(target=self._worker, args=(1, errors), daemon=True)
            for _ in range(self.n_jobs)
        ]
        for w in workers:
            w.start()
        try:
            for w in workers:
                w.join()
        except KeyboardInterrupt:  # the workers' trials in flight will never finish
            self.stop.set()
            self.client.fail_running()
            raise
        if errors:
            raise errors[0]

    def _worker(self, per_launch: int, errors: list[BaseException] | None) -> None:
        """Ask, launch and tell until ``n_trials`` trials are claimed. In a thread (``errors``
        given), an exception is kept for the main thread and stops the other workers."""
        try:
            while not self.stop.is_set():
                with self.lock:
                    k = min(per_launch, self.n_trials - self.claimed)
                    if time.perf_counter() > self.deadline:
                        k = 0
                    self.claimed += max(0, k)
                if k <= 0:
                    return
                batch = []
                for _ in range(k):
                    with self.lock:
                        batch.append(self.proposer.next(self.client, self.trained))
                self._launch(batch)
        except BaseException as exc:
            if errors is None:
                raise
            errors.append(exc)
            self.stop.set()

    def _seeds(self, trial: optuna.trial.Trial) -> list[int | None]:
        """The seeds of a trial's jobs: none set, every seed, or under halving the first below
        the top rung."""
        if not self.seeds:
            return [None]
        return list(self.fidelity.seeds_of(trial, self.seeds) if self.fidelity else self.seeds)

    def _launch(self, batch: list[Proposal]) -> None:
        """Launch the jobs of a batch of trials (one per seed each) and tell how each ended."""
        seeds = [self._seeds(trial) for trial, _ in batch]
        jobs = [
            [*overrides, *([f"trainer.seed={s}"] if s is not None else [])]
            for (_, overrides), own in zip(batch, seeds, strict=True)
            for s in own
        ]
        with self.lock:
            first, self.job_idx = self.job_idx, self.job_idx + len(jobs)
        try:
            returns = self.launcher.launch(jobs, initial_job_idx=first)
        except BaseException:  # Ctrl-C or a launcher error: these trials will never finish
            with self.lock:
                for trial, _ in batch:
                    self.client.tell(trial, state=TrialState.FAIL)
            raise
        crashed = []
        with self.lock:
            start = 0
            for (trial, _), own in zip(batch, seeds, strict=True):
                rets, start = returns[start : start + len(own)], start + len(own)
                if not self.outcomes.tell(self.client, trial, rets, own):
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
