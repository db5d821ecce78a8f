"""Hydra callbacks, registered in conf/config.yaml under ``hydra.callbacks``."""

from __future__ import annotations

import logging
import sys
import tempfile
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from mnist_sweep import loggers, report
from mnist_sweep.errors import ConfigError

log = logging.getLogger(__name__)


def writable_dir_problem(path: Path) -> str | None:
    """Why ``path`` cannot be created and written (None if it can); leaves no trace behind."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        return exc.strerror or str(exc)
    finally:
        for folder in missing:  # deepest first; only the folders this check created
            try:
                folder.rmdir()
            except OSError:
                break
    return None


class OutputDirCallback(Callback):
    """Refuse, with one line and exit status 2, an output folder that cannot be created or
    written (``hydra.run.dir``, ``hydra.sweep.dir``), before Hydra tries to create it."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._check(Path(config.hydra.run.dir), "hydra.run.dir")

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._check(Path(config.hydra.sweep.dir), "hydra.sweep.dir")

    @staticmethod
    def _check(path: Path, key: str) -> None:
        problem = writable_dir_problem(path)
        if problem:
            print(
                f"error: {key}={path} cannot be used as the output folder ({problem}); "
                "point it at a folder you can create and write, or leave it at its default.",
                file=sys.stderr,
            )
            sys.exit(2)


class LeaderboardCallback(Callback):
    """Build ``leaderboard.html`` in the sweep directory when a multirun ends.

    A sweep that is killed never gets here (nor, before Hydra 1.4, one whose job raised);
    ``python -m mnist_sweep.report DIR`` builds the same page from disk at any time.
    """

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if not sweep_dir.is_dir():  # the sweep was refused before any job ran
            return
        try:
            page = report.write_leaderboard(sweep_dir)
        except Exception as exc:  # a report problem must not turn a finished sweep into a failure
            log.warning(
                "%s not written (%s); build it with: python -m mnist_sweep.report %s",
                report.LEADERBOARD,
                exc,
                sweep_dir,
            )
            return
        log.info("leaderboard: %s", page)


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
        self.trackers = loggers.build(node)
        self.trackers.sweep_start(self.sweep, config.hydra.sweeper.get("study_name"))

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        self.trackers.sweep_end(self.sweep)
