"""Hydra callbacks, registered in conf/config.yaml under ``hydra.callbacks``.

They stand with the entry points, on the top floor: the leaderboard's callback imports the report
when a sweep starts, so a single run (and a refused one) never loads the report's libraries."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any, NoReturn

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.utils import JobReturn
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from mnist_sweep import artifacts, claims, loggers
from mnist_sweep.errors import ClaimError, ConfigError
from mnist_sweep.folders import (
    forget_sweep,
    holds_a_run,
    holds_a_sweep,
    mark_interrupted,
    sweep_outcome,
    writable_dir_problem,
)

log = logging.getLogger(__name__)


def refuse(message: str) -> NoReturn:
    """One line on stderr and exit status 2, before Hydra writes anything."""
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


class OutputDirCallback(Callback):
    """The output folder (``hydra.run.dir``, ``hydra.sweep.dir``): refused with one line and
    exit status 2 before Hydra writes into it when it cannot be created or written, or when it
    already holds another run or sweep (whose files a new one would overwrite or mix with). A
    search preset without ``-m`` is refused the same way. A sweep none of whose jobs trained to
    the end exits non-zero with a one-line summary once every other callback has finished."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        path = Path(config.hydra.run.dir)
        preset = config.hydra.runtime.choices.get("hparams_search")
        if preset:
            refuse(
                f"hparams_search={preset} is a search and runs only as a multirun: add -m "
                f"(python -m mnist_sweep -m hparams_search={preset} ...)."
            )
        self._check(path, "hydra.run.dir")
        held = (
            f"hydra.run.dir={path} already holds a run, which this one would overwrite; "
            "leave hydra.run.dir at its default or point it at a new folder."
        )
        if holds_a_run(path):  # refused before the claim: the folder is left as it is
            refuse(held)
        self._claim(path, "hydra.run.dir")
        if holds_a_run(path):  # it ended between the look and the claim
            claims.release(path)
            refuse(held)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        path = Path(config.hydra.sweep.dir)
        self._check(path, "hydra.sweep.dir")
        held = (
            f"hydra.sweep.dir={path} already holds a sweep, whose files and leaderboard this "
            "one would overwrite or mix with; leave hydra.sweep.dir at its default or point it "
            "at a new folder. Nothing was run."
        )
        if holds_a_sweep(path):  # refused before the claim: the folder is left as it is
            refuse(held)
        self._claim(path, "hydra.sweep.dir")
        if holds_a_sweep(path):
            claims.release(path)
            refuse(held)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if sys.exc_info()[0] is not None:  # refused, interrupted or failed: already said so
            return
        sweep_dir = Path(config.hydra.sweep.dir)
        if not any(holds_a_run(job) for job in sweep_dir.iterdir() if job.is_dir()):
            forget_sweep(sweep_dir)
            refuse(
                f"the sweep has no job (an empty sweep such as range(0,0)?), so {sweep_dir} "
                "was not kept; nothing was run."
            )
        problem = sweep_outcome(sweep_dir)
        if problem:
            message, status = problem
            print(f"error: {message}", file=sys.stderr)
            sys.exit(status)

    @staticmethod
    def _claim(path: Path, key: str) -> None:
        """The folder is this process's for its whole life (released when it ends)."""
        try:
            claims.claim(path, key)
        except ClaimError as exc:
            refuse(f"{exc} Nothing was run.")

    @staticmethod
    def _check(path: Path, key: str) -> None:
        problem = writable_dir_problem(path)
        if problem:
            refuse(
                f"{key}={path} cannot be used as the output folder ({problem}); "
                "point it at a folder you can create and write, or leave it at its default."
            )


def expected_jobs(config: DictConfig) -> int | None:
    """How many jobs the multirun will launch: an Optuna sweep's ``n_trials``, else the
    product of the sweep overrides' lengths (None when it cannot tell, e.g. a glob)."""
    sweeper = config.hydra.sweeper
    if "n_trials" in sweeper:  # one job per seed when each proposal is repeated over seeds
        return int(sweeper.n_trials) * max(1, len(sweeper.get("seeds") or []))
    sweeps = list(config.hydra.overrides.task)
    sweeps += [f"{k}={v}" for k, v in (sweeper.get("params") or {}).items()]
    try:
        total = 1
        for override in OverridesParser.create().parse_overrides(sweeps):
            if override.is_sweep_override():
                total *= len(list(override.sweep_string_iterator()))
    except Exception:  # a sweep this count does not understand: the page says "N jobs done"
        return None
    return total


class LeaderboardCallback(Callback):
    """Keep ``leaderboard.html`` and ``.csv`` in the sweep directory current: rewritten when
    each job ends (the runs only, no run reports: quick) while the page says the sweep is
    running and reloads itself, and once more, in full, when the multirun ends.

    A sweep stopped by Ctrl-C or an exception gets a last page that says it is incomplete; one
    killed outright keeps its last page (which warns once no job has ended for long), and
    ``python -m mnist_sweep.report DIR`` then shows it as stopped.
    """

    def __init__(self, reload_seconds: float = 10.0) -> None:
        self.reload_seconds = reload_seconds
        self.started = False  # a sweep refused at its start has no page of its own to write

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        from mnist_sweep.report import live

        sweep_dir = Path(config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        live.start(sweep_dir, expected_jobs(config), self.reload_seconds)
        self.started = True

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        if config.hydra.mode != RunMode.MULTIRUN:
            return
        self._write(Path(config.hydra.sweep.dir), run_reports=False)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if not self.started:  # refused before this callback started it (output folder)
            return
        from mnist_sweep.report import live

        # Hydra ends a multirun in a ``finally``: an exception in flight (Ctrl-C, a sweeper's
        # error) means the sweep stopped before its last job
        stopped = sys.exc_info()[1]
        if isinstance(stopped, KeyboardInterrupt):  # jobs in other processes were stopped too
            mark_interrupted(sweep_dir, stopped)
        live.finish(sweep_dir, live.STOPPED if stopped else live.ENDED)
        page = self._write(sweep_dir, run_reports=True)
        if page:
            log.info("leaderboard: %s", page)

    @staticmethod
    def _write(sweep_dir: Path, run_reports: bool) -> Path | None:
        from mnist_sweep import report
        from mnist_sweep.report import live

        try:
            with live.lock(sweep_dir):
                return report.write_leaderboard(sweep_dir, run_reports=run_reports)
        except report.NoRunsError:  # no job ran: the sweep was refused before its first
            live.discard(sweep_dir)
            return None
        except Exception as exc:  # a report problem must never fail a job or a finished sweep
            log.warning(
                "%s not written (%s); build it with: python -m mnist_sweep.report %s",
                artifacts.LEADERBOARD,
                exc,
                sweep_dir,
            )
            return None


class LoggerCallback(Callback):
    """The ``logger`` group for a whole multirun: a chosen tracker that is not installed (or
    set wrong) is refused once, with one line and exit status 2, before any job runs; trackers
    that group a sweep's runs (MLflow's parent run) open the group here and close it at the end."""

    def __init__(self) -> None:
        self.trackers = loggers.Loggers([])  # Hydra ends a multirun it refused at its start, too
        self.sweep = Path()

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        chosen = config.get("logger")  # empty with logger=none
        node = OmegaConf.to_container(chosen, resolve=True) if chosen else {}
        try:
            loggers.check(node)
        except ConfigError as exc:
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(2)
        self.sweep = Path(config.hydra.sweep.dir).resolve()
        self.trackers = loggers.from_config(node)
        self.trackers.sweep_start(self.sweep, config.hydra.sweeper.get("study_name"))

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        self.trackers.sweep_end(self.sweep)
