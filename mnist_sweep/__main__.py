"""``python -m mnist_sweep [overrides]``: Hydra composes conf/ and trains one model per job."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from mnist_sweep.errors import UserError
from mnist_sweep.run import execute

log = logging.getLogger("mnist_sweep")


@hydra.main(config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> float | None:
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
    try:
        return execute(cfg, Path(hc.runtime.output_dir), meta)
    except UserError as exc:
        log.error("%s", exc)
        if multirun:  # one refused or failed job must not stop the sweep
            return None
        sys.exit(2)


if __name__ == "__main__":
    main()
