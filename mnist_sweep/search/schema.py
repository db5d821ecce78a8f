"""The search sweeper's settings as a dataclass schema in Hydra's ConfigStore
(``hydra/sweeper=search``), and what its sampler and pruner configs may name."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

SWEEPER_TARGET = "mnist_sweep.search.sweeper.SearchSweeper"  # Hydra finds plugins by module
# what a sampler or pruner config's ``_target_`` may name (the optuna plugin's sampler configs
# name its NSGA factories)
SAMPLER_TARGETS = ("hydra_plugins.hydra_optuna_sweeper.*", "optuna.samplers.*")
PRUNER_TARGETS = ("optuna.pruners.*",)


@dataclass
class SearchSweeperConf:
    """``hydra/sweeper=search``: the optuna plugin's settings plus this sweeper's own."""

    _target_: str = SWEEPER_TARGET
    defaults: list[Any] = field(
        default_factory=lambda: [
            {"sampler": "tpe"},
            {"pruner": "none"},
            {"fidelity": "none"},
            "_self_",
        ]
    )
    sampler: Any = MISSING  # hydra/sweeper/sampler: the optuna plugin's configs
    pruner: Any = MISSING  # hydra/sweeper/pruner: none, median, asha, hyperband (conf/)
    fidelity: Any = MISSING  # hydra/sweeper/fidelity: none, halving (conf/)
    direction: Any = "maximize"  # or a list, one per objective
    storage: str | None = None  # an Optuna RDB URL; None: in memory, no pruning
    study_name: str | None = None
    n_trials: int = 20  # trials that train, per session; refused proposals do not count
    n_jobs: int = 1  # trials at once
    timeout: float | None = None  # seconds; no trial starts after it (running ones finish)
    max_failure_rate: float = 0.0
    params: dict[str, str] | None = None  # Hydra sweep syntax
    seeds: list[int] | None = None  # train every proposal once per seed (trainer.seed)
    heartbeat_interval: int = 60  # seconds; a trial silent for twice that is failed, re-tried once
    max_refused: int | None = None  # stop after this many refused proposals in one session
    objectives: list[str] | None = None  # metrics.json fields, one per direction
    rerun_from_recipe: list[str] = field(default_factory=list)  # keys the re-run takes from it
    # each trial's report.html as its job ends; false: for all trials at the end of the sweep
    # (with the leaderboard) or by ``python -m mnist_sweep.report``
    run_reports: bool = False


ConfigStore.instance().store(
    group="hydra/sweeper", name="search", node=SearchSweeperConf, provider="mnist_sweep"
)
