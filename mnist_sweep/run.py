"""One run end to end: validate → budget → data → model → train → artifacts → report.

``execute`` returns the search objective: validation accuracy when a validation split exists,
else the final-epoch test accuracy. The test set never feeds a search when a split exists.
"""

from __future__ import annotations

import logging
import os
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from mnist_sweep import artifacts, data, engine, models, report
from mnist_sweep.augment import Augment
from mnist_sweep.config import validate
from mnist_sweep.errors import BudgetError, UserError

log = logging.getLogger(__name__)


def check_budget(plain: dict[str, Any], params: int) -> None:
    budget, epochs = plain["budget"], plain["trainer"]["epochs"]
    if budget["max_params"] is not None and params > budget["max_params"]:
        raise BudgetError(
            f"refused before training: the model has {params:,} trainable parameters, over "
            f"budget.max_params={budget['max_params']:,}; shrink model.widths or raise the budget."
        )
    if budget["max_epochs"] is not None and epochs > budget["max_epochs"]:
        raise BudgetError(
            f"refused before training: trainer.epochs={epochs} is over "
            f"budget.max_epochs={budget['max_epochs']}."
        )


def execute(cfg: DictConfig, run_dir: Path, meta: dict[str, Any]) -> float | None:
    """Train one model as ``cfg`` says and leave every artifact in ``run_dir``.

    ``meta`` (overrides, choices, job number) is recorded in metrics.json as given. User errors
    are recorded there too (status ``over_budget`` or ``failed``) and then re-raised.
    """
    start = time.perf_counter()
    artifacts.claim(run_dir)
    record: dict[str, Any] = {
        "status": "running",
        "started_at": datetime.now().isoformat(timespec="seconds"),
        **meta,
    }
    metrics_path = run_dir / artifacts.METRICS
    try:
        plain = validate(cfg)
        params = models.count_params(plain["model"])
        record |= {
            "params": params,
            "macs": models.macs(plain["model"]),
            "epochs": plain["trainer"]["epochs"],
            "seed": plain["trainer"]["seed"],
            "precision": plain["device"]["precision"],
        }
        search = plain.get("search") or {}  # an Optuna trial: its study and trial number
        record |= {k: search[k] for k in ("study", "trial") if k in search}
        check_budget(plain, params)
        artifacts.write_json(metrics_path, record)
        objective = _train(cfg, plain, run_dir, record, start)
    except BaseException as exc:
        status = "over_budget" if isinstance(exc, BudgetError) else "failed"
        message = str(exc) if isinstance(exc, UserError) else f"{type(exc).__name__}: {exc}"
        record |= {
            "status": status,
            "error": message,
            "wall_seconds": round(time.perf_counter() - start, 3),
        }
        artifacts.write_json(metrics_path, record)
        if isinstance(exc, Exception):  # not on Ctrl-C
            _write_report(run_dir)
        raise
    _write_report(run_dir)
    return objective


def _write_report(run_dir: Path) -> None:
    """report.html for the run; a report that cannot be built never fails the run."""
    try:
        report.write_run_report(run_dir)
    except Exception as exc:
        log.warning("%s not written: %s: %s", report.RUN_REPORT, type(exc).__name__, exc)


def _job_threads() -> int | None:
    """Torch threads for a sweep job: an equal share of this process's cores among the jobs that
    run at once (a joblib or submitit_local batch), so together they do not oversubscribe them.
    None outside a multirun: torch's default."""
    if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
        return None
    hc = HydraConfig.get()
    affinity = getattr(os, "sched_getaffinity", None)  # Linux: the cores this process may use
    cpus = len(affinity(0)) if affinity else os.cpu_count() or 1
    batch = hc.sweeper.get("n_jobs") or hc.sweeper.get("max_batch_size") or cpus  # optuna, basic
    if hc.launcher._target_.endswith(".JoblibLauncher"):
        workers = hc.launcher.n_jobs or 1
        at_once = min(batch, workers if workers > 0 else max(1, cpus + 1 + workers))  # -1: all
    elif hc.launcher._target_.endswith("submitit_launcher.LocalLauncher"):
        at_once = batch
    else:
        at_once = 1
    return max(1, cpus // at_once)


def _train(
    cfg: DictConfig, plain: dict[str, Any], run_dir: Path, record: dict[str, Any], start: float
) -> float:
    dev_cfg, trainer, data_cfg = plain["device"], plain["trainer"], plain["data"]
    device = engine.resolve_device(dev_cfg["name"])
    threads = dev_cfg["threads"] or _job_threads()
    if threads:
        torch.set_num_threads(threads)
    record |= {"device": str(device), "threads": torch.get_num_threads()}

    splits = data.load_splits(
        data_cfg["root"],
        mean=data_cfg["mean"],
        std=data_cfg["std"],
        val_size=data_cfg["val_size"],
        train_subset=data_cfg["train_subset"],
        split_seed=data_cfg["split_seed"],
        sources=data_cfg["sources"],
        device=device,
    )
    torch.manual_seed(trainer["seed"])
    model = engine.build("model", cfg.model).to(device)
    record["params"] = models.trainable_params(model)
    background = -data_cfg["mean"] / data_cfg["std"]

    def progress(row: dict[str, float]) -> None:
        line = (
            f"epoch {row['epoch']}/{trainer['epochs']}  loss {row['train_loss']:.4f}  "
            f"train {row['train_acc']:.2%}  test {row['test_acc']:.2%}"
        )
        if "val_acc" in row:
            line += f"  val {row['val_acc']:.2%}"
        log.info("%s  lr %.4g  %.1fs", line, row["lr"], row["seconds"])

    history = engine.fit(
        model,
        splits,
        optim_cfg=cfg.optim,
        sched_cfg=cfg.sched,
        augment=Augment(plain.get("aug"), background),
        epochs=trainer["epochs"],
        batch_size=trainer["batch_size"],
        label_smoothing=trainer["label_smoothing"],
        grad_clip=trainer["grad_clip"],
        precision=dev_cfg["precision"],
        channels_last=dev_cfg["channels_last"],
        seed=trainer["seed"],
        on_epoch=progress,
    )

    rows = history.rows
    best = max(rows, key=lambda r: r["test_acc"])
    record |= {
        "status": "completed",
        "test_acc": rows[-1]["test_acc"],
        "test_loss": rows[-1]["test_loss"],
        "best_test_acc": best["test_acc"],
        "best_epoch": best["epoch"],
        "val_acc": rows[-1].get("val_acc"),
        "val_loss": rows[-1].get("val_loss"),
        "train_seconds": round(history.train_seconds, 3),
        "images_per_sec": round(history.images_seen / history.train_seconds, 1),
        "torch": torch.__version__,
        "cpu": engine.cpu_name(),
    }
    if device.type == "cuda":
        record["gpu"] = torch.cuda.get_device_name(device)
    artifacts.write_history(run_dir / artifacts.HISTORY, rows)
    artifacts.save_model(run_dir / artifacts.CHECKPOINT, model, plain["model"])
    raw_test = ((splits.test_x * data_cfg["std"] + data_cfg["mean"]) * 255).round()
    artifacts.save_predictions(
        run_dir / artifacts.PREDICTIONS,
        history.test.pred,
        splits.test_y.cpu(),
        raw_test.clamp(0, 255).to(torch.uint8).squeeze(1).cpu(),
    )
    record["wall_seconds"] = round(time.perf_counter() - start, 3)
    artifacts.write_json(run_dir / artifacts.METRICS, record)
    log.info(
        "done: test accuracy %.2f%% (final epoch %d), %s parameters, %.1f s, run dir %s",
        100 * record["test_acc"],
        trainer["epochs"],
        f"{record['params']:,}",
        record["wall_seconds"],
        run_dir,
    )
    return record["val_acc"] if record["val_acc"] is not None else record["test_acc"]
