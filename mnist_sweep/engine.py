"""Device, precision, optimizer and schedule, and the in-memory train/evaluate loop.

Batches are sliced from one permutation of a resident tensor, augmented on the device, and
metrics are summed on the device too: no per-step host synchronisation.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional as F
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR, LRScheduler, ReduceLROnPlateau
from torch.optim.swa_utils import AveragedModel
from torch.profiler import record_function
from tqdm import tqdm

from mnist_sweep.augment import Augment
from mnist_sweep.config import DEVICES
from mnist_sweep.data import Splits
from mnist_sweep.errors import ConfigError
from mnist_sweep.targets import instantiate

log = logging.getLogger(__name__)


def resolve_device(name: str) -> torch.device:
    """``auto`` picks cuda, then mps, then cpu; an explicit choice must be available."""
    available = {
        "cuda": torch.cuda.is_available(),
        "mps": torch.backends.mps.is_available(),
        "cpu": True,
    }
    if name == "auto":
        return torch.device(next(d for d in DEVICES[1:] if available[d]))
    if not available[name]:
        usable = ", ".join(d for d, ok in available.items() if ok)
        raise ConfigError(
            f"device.name={name!r} was asked for, but this machine has no {name.upper()} device "
            f"that torch can use; available here: {usable} (or device=auto)."
        )
    return torch.device(name)


def ema_update(decay: float) -> Callable[[list, list, torch.Tensor], None]:
    """The moving average's step (``AveragedModel``'s ``multi_avg_fn``): each averaged tensor
    moves toward the trained one by 1 - d, with d = min(decay, (1 + n) / (10 + n)) after n
    updates. The warm-up lets the first weights, far from trained, fade within a few hundred
    steps: with d fixed at 0.999, a 7-epoch run would still weigh its first step's weights by a
    quarter. ``n`` stays a tensor: no per-step host synchronisation. Integer buffers (BatchNorm's
    batch count) take the trained value."""

    def update(averaged: list, current: list, n: torch.Tensor) -> None:
        if not averaged[0].is_floating_point():
            for a, c in zip(averaged, current, strict=True):
                a.copy_(c)
            return
        n = n.to(averaged[0].dtype)
        step = 1 - torch.clamp((1 + n) / (10 + n), max=decay)
        for a, c in zip(averaged, current, strict=True):
            a.lerp_(c, step)

    return update


def autocast(device: torch.device, precision: str) -> AbstractContextManager:
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext()


# Schedule factories: the ``sched`` group names one as ``_target_``; the engine adds the optimizer
# and the run's length. Every schedule but ``plateau`` steps once per batch.


def constant(optimizer: Optimizer, steps_per_epoch: int, epochs: int) -> LRScheduler:
    return LambdaLR(optimizer, lambda _: 1.0)


def step(
    optimizer: Optimizer,
    steps_per_epoch: int,
    epochs: int,
    step_epochs: int,
    gamma: float,
    warmup_epochs: float = 0.0,
) -> LRScheduler:
    """A linear warm-up to the optimizer's learning rate (the peak), then a multiplication by
    ``gamma`` every ``step_epochs`` epochs after the warm-up."""
    warm, every = int(warmup_epochs * steps_per_epoch), step_epochs * steps_per_epoch

    def factor(s: int) -> float:
        return (s + 1) / warm if s < warm else gamma ** ((s - warm) // every)

    return LambdaLR(optimizer, factor)


def onecycle(
    optimizer: Optimizer,
    steps_per_epoch: int,
    epochs: int,
    max_lr: float,
    pct_start: float,
    div_factor: float,
    final_div_factor: float,
    anneal_strategy: str = "linear",
) -> LRScheduler:
    total = steps_per_epoch * epochs
    if not (0 < pct_start < 1 and pct_start * total > 1):
        raise ConfigError(
            f"sched=onecycle with sched.pct_start={pct_start} needs a warm-up and a decay phase of "
            f"at least one step each, but this run has only {total} training steps "
            "(epochs × batches per epoch); lower trainer.batch_size, train longer or on more data, "
            "or use sched=cosine."
        )
    return torch.optim.lr_scheduler.OneCycleLR(
        optimizer,
        max_lr=max_lr,
        total_steps=total,
        pct_start=pct_start,
        div_factor=div_factor,
        final_div_factor=final_div_factor,
        anneal_strategy=anneal_strategy,
        cycle_momentum=False,
    )


def cosine(
    optimizer: Optimizer, steps_per_epoch: int, epochs: int, warmup_epochs: float, min_lr: float
) -> LRScheduler:
    total, warm = steps_per_epoch * epochs, int(warmup_epochs * steps_per_epoch)
    base = optimizer.param_groups[0]["lr"]
    floor = min_lr / base if base else 0.0

    def factor(s: int) -> float:
        if s < warm:
            return (s + 1) / warm
        progress = (s - warm) / max(1, total - warm)
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return LambdaLR(optimizer, factor)


def plateau(
    optimizer: Optimizer, steps_per_epoch: int, epochs: int, factor: float, patience: int
) -> ReduceLROnPlateau:
    return ReduceLROnPlateau(optimizer, mode="min", factor=factor, patience=patience)


@dataclass
class EvalResult:
    loss: float
    acc: float
    pred: torch.Tensor


@dataclass
class History:
    rows: list[dict[str, float]] = field(default_factory=list)
    test: EvalResult | None = None
    val: EvalResult | None = None
    train_seconds: float = 0.0
    images_seen: int = 0
    diverged: bool = False  # the training loss became NaN or infinite; stopped at the last row
    stopped: bool = False  # ``on_epoch`` asked to stop (a search's pruner); after the last row


@torch.inference_mode()
@record_function("evaluate")
def evaluate(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, precision: str, batch_size: int = 2000
) -> EvalResult:
    """Mean loss, accuracy and predictions over every image of a split."""
    model.eval()
    device = x.device
    loss = torch.zeros((), device=device)
    preds = []
    with autocast(device, precision):
        for i in range(0, len(y), batch_size):
            out = model(x[i : i + batch_size]).float()
            loss += F.nll_loss(out, y[i : i + batch_size], reduction="sum")
            preds.append(out.argmax(1))
    pred = torch.cat(preds)
    return EvalResult(loss.item() / len(y), (pred == y).sum().item() / len(y), pred.cpu())


def _batches(n: int, batch_size: int, g: torch.Generator, device: torch.device) -> Iterator:
    perm = torch.randperm(n, generator=g, device=device)
    for i in range(0, n - batch_size + 1, batch_size):
        yield perm[i : i + batch_size]


def fit(
    model: nn.Module,
    data: Splits,
    *,
    optim_cfg: Mapping,
    sched_cfg: Mapping,
    augment: Augment,
    epochs: int,
    batch_size: int,
    label_smoothing: float,
    grad_clip: float | None,
    precision: str,
    channels_last: bool,
    seed: int,
    test_every: int = 1,
    val_every: int = 1,
    on_epoch: Callable[[dict[str, float]], bool | None] | None = None,
    ema: float | None = None,
) -> History:
    """Train for ``epochs`` full passes; evaluate test (and validation) after every epoch.

    The phases of a step are labelled (``augment``, ``forward``, ``backward``, ``optimizer``,
    ``evaluate``) for ``torch.profiler``; the labels cost nothing when no profiler runs.
    ``on_epoch`` gets each epoch's row; when it returns True, training stops there, with
    ``history.stopped`` set. The test set is evaluated every ``test_every`` epochs (0: never
    before) and always after the last epoch trained, so a search, which reads validation
    accuracy, need not pay for test curves. The validation split likewise every ``val_every``
    epochs (0: only after the last), and every epoch for a scheduler that steps on it (plateau).

    A training loss that becomes NaN or infinite stops training after that epoch, with
    ``history.diverged`` set (checked once per epoch, where the loss is read anyway).

    ``channels_last`` stores activations NHWC, which makes CPU max-pooling and small convs
    several times faster than the default NCHW layout.

    With ``ema`` (a decay, e.g. 0.999; 0 or None: none) an exponential moving average of the
    weights, and of the BatchNorm statistics with them, is updated after every step; it is what
    every evaluation judges, and at the end it replaces the trained weights in ``model``.
    """
    device = data.train_x.device
    layout = torch.channels_last if channels_last else torch.contiguous_format
    model.to(memory_format=layout)
    n = len(data.train_y)
    steps = n // batch_size
    if steps == 0:
        raise ConfigError(
            f"trainer.batch_size={batch_size} is larger than the {n} training images; "
            "lower the batch size or train on more data."
        )
    optimizer = instantiate("optim", optim_cfg, params=model.parameters())
    scheduler = instantiate("sched", sched_cfg, optimizer, steps_per_epoch=steps, epochs=epochs)
    per_batch = not isinstance(scheduler, ReduceLROnPlateau)
    g = torch.Generator(device=device).manual_seed(seed)
    averaged = None  # with ``ema``: the moving average of the weights, evaluated and kept
    if ema:  # 0 or None: none
        averaged = AveragedModel(model, multi_avg_fn=ema_update(ema), use_buffers=True)
    judged = model if averaged is None else averaged.module
    history = History()
    progress = sys.stderr.isatty()

    for epoch in range(1, epochs + 1):
        model.train()
        start = time.perf_counter()
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.long)
        lr = optimizer.param_groups[0]["lr"]
        bar = tqdm(total=steps, desc=f"epoch {epoch}/{epochs}", leave=False, disable=not progress)
        for idx in _batches(n, batch_size, g, device):
            with record_function("augment"):
                x, y = data.train_x[idx], data.train_y[idx]
                if augment:
                    x = augment(x, g)
                x = x.contiguous(memory_format=layout)
            with record_function("forward"), autocast(device, precision):
                out = model(x)
                loss = F.cross_entropy(out.float(), y, label_smoothing=label_smoothing)
            with record_function("backward"):
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
            with record_function("optimizer"):
                if grad_clip:
                    nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
                optimizer.step()
                if averaged is not None:
                    averaged.update_parameters(model)
                if per_batch:
                    scheduler.step()
            loss_sum += loss.detach()
            correct += (out.detach().argmax(1) == y).sum()
            bar.update()
        bar.close()
        seconds = time.perf_counter() - start
        history.train_seconds += seconds
        history.images_seen += steps * batch_size

        row = {
            "epoch": epoch,
            "train_loss": loss_sum.item() / steps,
            "train_acc": correct.item() / (steps * batch_size),
            "lr": lr,
            "seconds": seconds,
        }
        if not math.isfinite(row["train_loss"]):  # a diverged model has nothing left to learn
            history.rows.append(row)
            history.diverged = True
            break
        if test_every and epoch % test_every == 0 or epoch == epochs:
            history.test = evaluate(judged, data.test_x, data.test_y, precision)
            row |= {"test_loss": history.test.loss, "test_acc": history.test.acc}
        if data.val_x is not None and (
            not per_batch or val_every and epoch % val_every == 0 or epoch == epochs
        ):
            history.val = evaluate(judged, data.val_x, data.val_y, precision)
            row |= {"val_loss": history.val.loss, "val_acc": history.val.acc}
        if not per_batch:
            scheduler.step(row.get("val_loss", row["train_loss"]))
        history.rows.append(row)
        if on_epoch and on_epoch(row):
            history.stopped = True
            break
    last = history.rows[-1] if history.rows else None
    if last and not history.diverged and "test_acc" not in last:  # stopped between test epochs
        history.test = evaluate(judged, data.test_x, data.test_y, precision)
        last |= {"test_loss": history.test.loss, "test_acc": history.test.acc}
    if averaged is not None:  # the averaged weights are the run's model from here on
        model.load_state_dict(averaged.module.state_dict())
    return history
