"""``python -m mnist_sweep [overrides]``: Hydra composes conf/ and trains one model per job.

The Hydra edge: this module reads Hydra's runtime state (run folder, overrides, group choices,
launcher), hands ``run.execute`` plain values, and writes the run's report when it ends. The
training modules, the search's job side and the report are imported where they are used, so
``--help`` and a refused override answer without loading torch, Optuna, pandas or matplotlib.
"""

from __future__ import annotations

import gc
import logging
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from mnist_sweep import artifacts
from mnist_sweep.errors import UserError, exit_status, signal_name, stop_on_signals
from mnist_sweep.groups import unknown_option
from mnist_sweep.targets import TARGETS

log = logging.getLogger("mnist_sweep")


def job_threads(hc: DictConfig) -> int | None:
    """Torch threads for a sweep job: an equal share of this process's cores among the jobs that
    run at once (a joblib or submitit_local batch), so together they do not oversubscribe them.
    None outside a multirun: torch's default."""
    if hc.mode != RunMode.MULTIRUN:
        return None
    from mnist_sweep.run import usable_cores
    from mnist_sweep.search.job import local_parallel

    cpus = usable_cores()
    batch = hc.sweeper.get("n_jobs") or hc.sweeper.get("max_batch_size") or cpus  # optuna, basic
    batch *= len(hc.sweeper.get("seeds") or [0])  # the search sweeper: a job per seed
    at_once = 1
    if local_parallel(hc.launcher._target_):
        workers = hc.launcher.get("n_jobs") or batch  # joblib's n_jobs; submitit runs the batch
        at_once = min(batch, workers if workers > 0 else max(1, cpus + 1 + workers))  # -1: all
    return max(1, cpus // at_once)


@hydra.main(config_path="../conf", config_name="config", execution_whitelist=TARGETS)
def main(cfg: DictConfig) -> float | list[float] | None:
    from mnist_sweep.run import execute, group_choices

    hc = HydraConfig.get()
    multirun = hc.mode == RunMode.MULTIRUN
    meta = {
        "overrides": list(hc.overrides.task),
        "choices": group_choices(hc.runtime.choices, cfg),
        "job_num": hc.job.num if multirun else None,
    }
    run_dir = Path(hc.runtime.output_dir)
    # a sweep may leave its jobs' reports to its end (the search sweeper's ``run_reports``)
    run_report = hc.sweeper.get("run_reports", True) if multirun else True
    try:
        monitor = None
        if multirun:  # a trial's pruning
            from mnist_sweep.search.job import epoch_monitor

            monitor = epoch_monitor(hc.sweeper, cfg)
        record = execute(
            cfg,
            run_dir,
            meta,
            threads=job_threads(hc),
            on_epoch=monitor,
            on_end=_run_report if run_report else None,
        )
    except UserError as exc:
        log.error("%s", exc)
        if multirun:  # one refused, failed or diverged job must not stop the sweep
            return None
        sys.exit(2)
    except KeyboardInterrupt as exc:  # the run said so in one line; a sweep stops
        if multirun:
            raise
        sys.exit(exit_status(exc))
    except Exception:
        if not multirun:
            raise
        log.exception("run failed; recorded in %s, the sweep goes on", run_dir / "metrics.json")
        return None
    objectives = hc.sweeper.get("objectives") if multirun else None  # a multi-objective search
    return record.objectives(list(objectives)) if objectives else record.objective()


def _run_report(run_dir: Path) -> None:
    """The run's report.html, once it has an architecture table: a config refused before that
    leaves only its metrics.json (and needs no report libraries)."""
    if (run_dir / artifacts.ARCHITECTURE).exists():
        from mnist_sweep import report

        report.run_ended(run_dir)


if __name__ == "__main__":
    # a log line that cannot be written (a full disk) is dropped, not printed as a traceback
    logging.raiseExceptions = False
    if problem := unknown_option(sys.argv[1:]):
        print(f"error: {problem}", file=sys.stderr)
        sys.exit(2)
    stop_on_signals()  # each ends a run as interrupted, its epochs kept
    try:
        main()
    except KeyboardInterrupt as exc:
        name = signal_name(exc)
        print(f"error: interrupted by {name}; every finished job keeps its files.", file=sys.stderr)
        sys.exit(exit_status(exc))
    finally:
        # the process ends here: its shutdown skips the garbage collector's passes over every
        # object torch and the other libraries made (1-5 s); atexit handlers still run
        gc.freeze()
