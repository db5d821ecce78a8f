"""What a job of a search needs, without the sweeper: its trial's epoch monitor, and whether its
launcher runs a batch of jobs at once on this machine. A plain run imports this and nothing of
Optuna; a job of a trial that a pruner judges imports Optuna when its monitor is made."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mnist_sweep.search.launchers import local_parallel
from mnist_sweep.search.schema import SWEEPER_TARGET

if TYPE_CHECKING:
    from mnist_sweep.search.monitor import EpochMonitor

__all__ = ["epoch_monitor", "local_parallel"]


def epoch_monitor(sweeper: Mapping[str, Any], cfg: Mapping[str, Any]) -> EpochMonitor | None:
    """The monitor of a job (its config ``cfg``) of a search's trial (``sweeper``: the job's
    ``hydra.sweeper``); None for any other job, a study in memory, a multi-objective study
    (Optuna prunes one objective) or ``hydra/sweeper/pruner=none``: nothing judges its epochs,
    so the job validates after its last epoch only (``trainer.val_every``)."""
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
    from mnist_sweep.search.monitor import EpochMonitor

    return EpochMonitor.of_trial(sweeper, search["study"], search["trial"], cfg["trainer"])
