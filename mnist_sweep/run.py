"""One run end to end: validate → architecture → budget → data → model → train → artifacts.

``execute`` takes a config as plain data (or a DictConfig) and the run's context: its folder,
torch threads and the bookkeeping to record (overrides, choices, job number). It imports nothing
from Hydra, so the CLI, a sweeper, the benchmark and a notebook all call it the same way. Torch
and the training modules are imported once the config has passed its checks: a refused config
costs no torch import. The run's report (``report.html``) is the caller's: the entry points write
it from the files the run leaves.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from mnist_sweep import artifacts, claims, loggers
from mnist_sweep.checks import refuse
from mnist_sweep.config import validate
from mnist_sweep.errors import BudgetError, DivergedError, UserError, WriteError, signal_name
from mnist_sweep.record import (
    COMPLETED,
    DIVERGED,
    FAILED,
    INTERRUPTED,
    OVER_BUDGET,
    PRUNED,
    Budget,
    RunRecord,
)

log = logging.getLogger(__name__)


def group_choices(choices: Mapping[str, Any], cfg: Mapping) -> dict[str, Any]:
    """The config group options a run was composed from (Hydra's ``runtime.choices``), without
    Hydra's own; ``aug``, a list group Hydra does not name, as its options joined by ``+``."""
    return {
        **{k: v for k, v in choices.items() if not k.startswith("hydra")},
        "aug": "+".join(cfg.get("aug") or {}) or "none",
    }


def execute(
    cfg: Mapping,
    run_dir: Path,
    meta: Mapping[str, Any] | None = None,
    threads: int | None = None,
    on_epoch: Callable[[Mapping[str, float]], bool] | None = None,
    on_end: Callable[[Path], None] | None = None,
) -> RunRecord:
    """Train one model as ``cfg`` says, leave every artifact in ``run_dir``, return its record.

    ``run_dir`` is claimed first (``claims``): a folder another process holds is refused with a
    ClaimError before anything is written to it, and a folder that holds a finished run's
    ``metrics.json`` likewise. ``meta`` holds RunRecord fields recorded as given (``overrides``,
    ``choices``, ``job_num``). ``threads`` is the torch thread count when ``device.threads`` is
    null (None: torch's default). User errors are recorded in metrics.json (status
    ``over_budget`` or ``failed``) and re-raised; a run whose loss diverged keeps its files and
    raises DivergedError. The trackers of the ``logger`` group see the run start, every epoch
    and its end, whatever it was. ``on_epoch`` (a search's pruning monitor) gets every epoch's
    row; when it answers True the run stops there with status ``pruned``, keeping its files.
    ``architecture.json`` holds the model's architecture table from the moment its config has
    passed its checks. ``on_end`` (an entry point's run report) gets the run folder once the
    record is final, however the run ended, before the trackers see the end, so they keep a copy
    of what it writes.
    """
    with claims.claimed(run_dir, "the run folder"):
        artifacts.check_fresh(run_dir)
        start = time.perf_counter()
        record = RunRecord(started_at=datetime.now().isoformat(timespec="seconds"), **(meta or {}))
        trackers = loggers.Loggers([])
        try:
            plain = validate(cfg)
            _check_threads(plain["device"]["threads"])
            from mnist_sweep import models  # torch, once the config is known to be good

            trackers = loggers.from_config(plain.get("logger"))
            budget = Budget.of(plain["budget"])
            trainer = plain["trainer"]
            allowed = plain["allowed_targets"]
            table = models.architecture(plain["model"], allowed)  # before training, weights on meta
            rows = [layer.as_row() for layer in table]
            artifacts.write_json(run_dir / artifacts.ARCHITECTURE, {"layers": rows})
            record.params = sum(layer.params for layer in table)
            record.macs = sum(layer.macs for layer in table)
            record.epochs, record.seed = trainer["epochs"], trainer["seed"]
            record.precision = plain["device"]["precision"]
            record.budget = asdict(budget)
            search = plain.get("search") or {}  # an Optuna trial: its study and trial number
            record.study, record.trial = search.get("study"), search.get("trial")
            trackers.start(plain, record, run_dir)
            budget.check(record.params, record.epochs, record.macs)
            record.write(run_dir)

            def epoch_done(row: Mapping[str, float]) -> bool:
                trackers.epoch(row)
                return bool(on_epoch and on_epoch(row))

            _train(plain, run_dir, record, threads, epoch_done, every_epoch=on_epoch is not None)
        except BaseException as exc:
            record.status = OVER_BUDGET if isinstance(exc, BudgetError) else FAILED
            record.error = (
                str(exc) if isinstance(exc, UserError) else f"{type(exc).__name__}: {exc}"
            )
            if isinstance(exc, KeyboardInterrupt):  # Ctrl-C or SIGTERM
                record.status, record.error = INTERRUPTED, _interrupted(exc, record)
                log.error("%s Its files are in %s.", record.error, run_dir)
            record.wall_seconds = round(time.perf_counter() - start, 3)
            with suppress(WriteError):  # a full disk: the error in flight says so, in one line
                record.write(run_dir)
            if (
                on_end
                and isinstance(exc, Exception | KeyboardInterrupt)
                and not isinstance(exc, WriteError)
            ):
                on_end(run_dir)
            trackers.end(record, run_dir)
            raise
        record.wall_seconds = round(time.perf_counter() - start, 3)
        record.write(run_dir)
        if on_end:
            on_end(run_dir)
        trackers.end(record, run_dir)
        if record.status == DIVERGED:
            raise DivergedError(f"{record.error} Its files are in {run_dir}.")
        if record.status == PRUNED:
            log.info("%s Its files are in %s.", record.error, run_dir)
            return record
        log.info(
            "done: test accuracy %.2f%% (final epoch %d), %s parameters, %.1f s, run dir %s",
            100 * record.test_acc,
            record.epochs,
            f"{record.params:,}",
            record.wall_seconds,
            run_dir,
        )
        return record


def usable_cores() -> int:
    """The cores this process may use (Linux: its affinity; elsewhere every core)."""
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity else os.cpu_count() or 1


def _check_threads(threads: int | None) -> None:
    """``device.threads`` no more than the cores this process may use: more would oversubscribe
    them (a run many times slower) without a word of why."""
    cores = usable_cores()
    if threads is not None and threads > cores:
        raise refuse(
            "device.threads",
            threads,
            f"at most {cores}, the cores this process may use, or null (torch's default)",
        )


def _interrupted(exc: KeyboardInterrupt, record: RunRecord) -> str:
    """What an interrupted run's record and console say: the signal and what was kept."""
    name = signal_name(exc)
    done = record.epochs_run or 0
    kept = f"; {artifacts.HISTORY} and {artifacts.CHECKPOINT} hold them" if done else ""
    of = f" of {record.epochs}" if record.epochs else ""
    return f"interrupted by {name} after {done}{of} epochs{kept}."


# a training step's multiply-adds per image: the forward pass, and about twice that backward
# (the gradients of the activations and of the weights)
FORWARD_AND_BACKWARD = 3


def training_macs(macs: int, images: int) -> int:
    """The multiply-adds of training ``images`` images on a model of ``macs`` per image."""
    return FORWARD_AND_BACKWARD * macs * images


def time_to_target(rows: list[Mapping[str, float]], target_acc: float) -> tuple[Any, Any]:
    """The first epoch whose test accuracy is at least ``target_acc`` and the training seconds
    up to its end; (None, None) when no epoch reached it, or when an epoch before the first
    that did went without a test evaluation (``trainer.test_every``), so that the first is not
    known."""
    seconds = 0.0
    for row in rows:
        seconds += row["seconds"]
        acc = row.get("test_acc")
        if acc is None or not math.isfinite(acc):
            return None, None
        if acc >= target_acc:
            return int(row["epoch"]), round(seconds, 3)
    return None, None


def _train(
    plain: dict[str, Any],
    run_dir: Path,
    record: RunRecord,
    threads: int | None,
    on_epoch: Callable[[Mapping[str, float]], bool],
    every_epoch: bool,
) -> None:
    """Train and record; ``every_epoch``: validate after every epoch (a pruner reads it)."""
    import torch

    from mnist_sweep import data, engine, machine, models
    from mnist_sweep.augment import Augment

    dev_cfg, trainer, data_cfg = plain["device"], plain["trainer"], plain["data"]
    device = engine.resolve_device(dev_cfg["name"])
    if dev_cfg["threads"] or threads:
        torch.set_num_threads(dev_cfg["threads"] or threads)
    record.device = str(device)

    splits = data.load_configured(data_cfg, device)
    torch.manual_seed(trainer["seed"])
    model = models.build(plain["model"], allowed=plain["allowed_targets"]).to(device)
    record.params = models.trainable_params(model)
    precision, probe = machine.choose_precision(
        dev_cfg["precision"], device, model, trainer["batch_size"]
    )
    record.precision_used = precision
    if probe:
        record.bf16_speedup = round(probe.bf16_speedup, 3)
    for key, value in machine.facts(device).items():
        setattr(record, key, value)
    background = -data_cfg["mean"] / data_cfg["std"]  # pixels 0 and 1, normalized
    white = (1 - data_cfg["mean"]) / data_cfg["std"]
    done: list[dict[str, float]] = []  # the finished epochs: on disk after each, to survive a stop
    per_epoch = len(splits.train_y) // trainer["batch_size"] * trainer["batch_size"]
    target_acc = plain["budget"]["target_acc"]

    def progress(row: dict[str, float]) -> bool:
        done.append(dict(row))
        artifacts.write_history(run_dir / artifacts.HISTORY, done)
        if math.isfinite(row["train_loss"]):
            models.save(run_dir / artifacts.CHECKPOINT, model, plain["model"])
        record.epochs_run = len(done)
        record.train_macs = training_macs(record.macs, per_epoch * len(done))
        record.target_epoch, record.target_seconds = time_to_target(done, target_acc)
        record.write(run_dir)
        line = (
            f"epoch {row['epoch']}/{trainer['epochs']}  loss {row['train_loss']:.4f}  "
            f"train {row['train_acc']:.2%}"
        )
        if "test_acc" in row:
            line += f"  test {row['test_acc']:.2%}"
        if "val_acc" in row:
            line += f"  val {row['val_acc']:.2%}"
        log.info("%s  lr %.4g  %.1fs", line, row["lr"], row["seconds"])
        return on_epoch(row)

    history = engine.fit(
        model,
        splits,
        optim_cfg=plain["optim"],
        sched_cfg=plain["sched"],
        augment=Augment(plain.get("aug"), background, white),
        epochs=trainer["epochs"],
        batch_size=trainer["batch_size"],
        label_smoothing=trainer["label_smoothing"],
        grad_clip=trainer["grad_clip"],
        ema=trainer.get("ema"),
        precision=precision,
        channels_last=dev_cfg["channels_last"],
        seed=trainer["seed"],
        test_every=trainer["test_every"],
        val_every=1 if every_epoch else trainer["val_every"],
        on_epoch=progress,
    )

    rows = history.rows
    record.epochs_run = len(rows)
    record.train_seconds = round(history.train_seconds, 3)
    record.images_per_sec = round(history.images_seen / history.train_seconds, 1)
    record.train_macs = training_macs(record.macs, history.images_seen)
    record.target_epoch, record.target_seconds = time_to_target(rows, target_acc)
    artifacts.write_history(run_dir / artifacts.HISTORY, rows)
    if history.diverged:
        (run_dir / artifacts.CHECKPOINT).unlink(missing_ok=True)  # no weights of a diverged run
        record.status = DIVERGED
        record.error = (
            f"training diverged: the training loss became {rows[-1]['train_loss']} in epoch "
            f"{len(rows)} of {trainer['epochs']}, so the run stopped there. Lower optim.lr "
            f"(now {plain['optim']['lr']}) or set trainer.grad_clip."
        )
        return
    best = max((r for r in rows if "test_acc" in r), key=lambda r: r["test_acc"])
    record.status = COMPLETED
    if history.stopped:
        record.status = PRUNED
        record.error = (
            f"pruned by the search's pruner after epoch {len(rows)} of {trainer['epochs']}; its "
            "numbers are that epoch's."
        )
    record.test_acc, record.test_loss = rows[-1]["test_acc"], rows[-1]["test_loss"]
    record.best_test_acc, record.best_epoch = best["test_acc"], best["epoch"]
    record.val_acc, record.val_loss = rows[-1].get("val_acc"), rows[-1].get("val_loss")
    models.save(run_dir / artifacts.CHECKPOINT, model, plain["model"])
    raw_test = ((splits.test_x * data_cfg["std"] + data_cfg["mean"]) * 255).round()
    artifacts.save_predictions(
        run_dir / artifacts.PREDICTIONS,
        history.test.pred,
        splits.test_y.cpu(),
        raw_test.clamp(0, 255).to(torch.uint8).squeeze(1).cpu(),
    )
