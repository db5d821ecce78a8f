"""Hydra callbacks, registered in conf/config.yaml under ``hydra.callbacks``."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from mnist_sweep import report

log = logging.getLogger(__name__)


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
