"""``python -m mnist_sweep [overrides]``: Hydra composes conf/ and trains one model per job."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from mnist_sweep.artifacts import read_metrics
from mnist_sweep.engine import TARGETS
from mnist_sweep.errors import UserError
from mnist_sweep.run import execute

log = logging.getLogger("mnist_sweep")


@hydra.main(config_path="../conf", config_name="config", execution_whitelist=TARGETS)
def main(cfg: DictConfig) -> float | list[float] | None:
    hc = HydraConfig.get()
    multirun = hc.mode == RunMode.MULTIRUN
    meta = {
        "overrides": list(hc.overrides.task),
        "choices": {
            **{k: v for k, v in hc.runtime.choices.items() if not k.startswith("hydra")},
            "aug": "+".join(cfg.get("aug") or {}) or "none",  # a list group: not in choices
        },
        "job_num": hc.job.num if multirun else None,
    }
    run_dir = Path(hc.runtime.output_dir)
    try:
        objective = execute(cfg, run_dir, meta)
    except UserError as exc:
        log.error("%s", exc)
        if multirun:  # one refused or failed job must not stop the sweep
            return None
        sys.exit(2)
    except Exception:
        if not multirun:
            raise
        log.exception("run failed; recorded in %s, the sweep goes on", run_dir / "metrics.json")
        return None
    objectives = OmegaConf.select(cfg, "search.objectives")  # a multi-objective search
    return [read_metrics(run_dir)[name] for name in objectives] if objectives else objective


if __name__ == "__main__":
    main()
