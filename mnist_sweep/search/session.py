"""One session of the search sweeper, behind its facade (``sweeper``): settings checked, space
parsed, study opened, slots run, results written; each step is done by its own module of this
package."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hydra.core.plugins import Plugins
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, open_dict

from mnist_sweep.config import validate
from mnist_sweep.search import outcome
from mnist_sweep.search.client import StudyClient
from mnist_sweep.search.fidelity import from_config
from mnist_sweep.search.proposals import Proposer, check_space
from mnist_sweep.search.sampling import make_sampler
from mnist_sweep.search.scheduler import Slots
from mnist_sweep.search.settings import Settings
from mnist_sweep.search.space import Space
from mnist_sweep.storage import hide_password

log = logging.getLogger("mnist_sweep.search")


class Session:
    """A search over the sweep overrides of one command line, with the sweeper's settings
    (``raw``: its config node's keys)."""

    def __init__(
        self,
        raw: Mapping[str, Any],
        *,
        hydra_context: HydraContext,
        task_function: TaskFunction,
        config: DictConfig,
    ) -> None:
        self.raw, self.config, self.hydra_context = raw, config, hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def run(self, arguments: list[str]) -> None:
        choice = self.config.hydra.runtime.choices.get("hydra/sweeper/pruner")
        settings = Settings.of(self.raw, choice)
        space = Space.parse([*(f"{k}={v}" for k, v in settings.params.items()), *arguments])
        fidelity = from_config(settings.fidelity, settings.directions, settings.pruner, space.dists)
        max_params = check_space(space, self.compose, fidelity)
        client = StudyClient.open(settings, make_sampler(settings.sampler))
        log.info(
            "Study %r in %s (%d trials so far), directions %s, sampler %s, pruner %s, seeds %s, "
            "fidelity %s",
            client.study.study_name,
            hide_password(settings.storage) if settings.storage else "memory",
            len(client.study.trials),
            settings.directions,
            settings.sampler._target_,
            type(settings.pruner).__name__,
            settings.seeds,
            fidelity or "none",
        )
        proposer = Proposer(space, self.compose, max_params, settings.max_refused, fidelity)
        launcher_target = self.config.hydra.launcher._target_
        Slots(settings, client, self.launcher, launcher_target, proposer, fidelity).run()
        recipe = outcome.recipe_overrides(
            self.hydra_context, self.config, space, settings.rerun_from_recipe
        )
        outcome.write_results(
            client.study,
            Path(self.config.hydra.sweep.dir),
            lambda trial: outcome.rerun_command(
                trial, space, recipe, self.hydra_context, self.config
            ),
        )

    def compose(self, overrides: list[str]) -> dict[str, Any]:
        """The job config for these overrides, validated, as plain data (raises ConfigError)."""
        cfg = self.hydra_context.config_loader.load_sweep_config(self.config, overrides)
        with open_dict(cfg):
            del cfg["hydra"]
        return validate(cfg)
