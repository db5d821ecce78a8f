"""The search sweeper (``hydra/sweeper=search``), Hydra's ``Sweeper`` plugin: a short facade.

Hydra loads this module in every process that composes ``conf/`` (it is the package's
``hydra.plugins`` entry point), so it imports neither Optuna nor the search itself: it stores its
settings, and a sweep imports the session that runs it (``session``).
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, Any

from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig

from mnist_sweep.errors import UserError
from mnist_sweep.search import schema  # noqa: F401 - stores hydra/sweeper=search in ConfigStore

if TYPE_CHECKING:
    from mnist_sweep.search.session import Session

log = logging.getLogger("mnist_sweep.search")


class SearchSweeper(Sweeper):
    """Optuna ask/tell under the parameter budget, with pruning, seed repeats, refilled slots
    and heartbeats; ``schema.SearchSweeperConf`` lists its settings, ``settings.Settings``
    checks them."""

    def __init__(self, **settings: Any) -> None:
        self.settings = settings  # checked when the sweep starts, before any study is opened
        self.session: Session | None = None

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        from mnist_sweep.search.session import Session

        self.session = Session(
            self.settings, hydra_context=hydra_context, task_function=task_function, config=config
        )

    def sweep(self, arguments: list[str]) -> None:
        assert self.session is not None, "Hydra calls setup before sweep"
        try:
            self.session.run(arguments)
        except UserError as exc:
            log.error("%s", exc)
            sys.exit(2)
