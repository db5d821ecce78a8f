"""The run record: what a run's ``metrics.json`` holds, how a run can end, and how it is judged.

Every writer (a run, the benchmark) and every reader (the sweeper, the reports, the benchmark) of
a run goes through :class:`RunRecord`, so a field has one name, one type and one meaning. A run is
judged against its *own* budget (``budget`` group: parameters, epochs, accuracy target), recorded
beside its results; runs written before the budget was recorded fall back to the default budget in
``conf/budget/default.yaml``.
"""

from __future__ import annotations

import json
import math
import types
import typing
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from mnist_sweep import artifacts
from mnist_sweep.checks import is_number
from mnist_sweep.errors import BudgetError
from mnist_sweep.groups import CONF

# How a run ends. ``running`` is written before training starts and stays if the process dies.
RUNNING = "running"
COMPLETED = "completed"
DIVERGED = "diverged"  # the training loss became NaN or infinite; stopped at that epoch
PRUNED = "pruned"  # stopped early by a search's pruner
INTERRUPTED = "interrupted"  # stopped by SIGINT (Ctrl-C) or SIGTERM; its finished epochs kept
OVER_BUDGET = "over_budget"  # refused before training
FAILED = "failed"

# Leaderboard levels, best first: the order a status column sorts in, and their labels.
LEVELS = {
    "target": "target achieved",
    "below": "below target",
    PRUNED: "pruned",
    DIVERGED: "diverged",
    INTERRUPTED: "interrupted",
    RUNNING: "running / incomplete",
    OVER_BUDGET: "over budget",
    FAILED: "failed",
    "unreadable": "unreadable",
}
FINISHED = ("target", "below")  # levels of runs that trained to their last epoch

# Fields a search may return as objectives (``search.objectives``); never a test-set number.
# Time to target (``target_epoch``, ``target_seconds``) is read off the test set: never one.
OBJECTIVES = ("val_acc", "val_loss", "params", "macs", "train_macs", "train_seconds")

DEFAULT_BUDGET_FILE = CONF / "budget" / "default.yaml"


@dataclass(frozen=True)
class Budget:
    """What a run is held to: a run reaches the target with at least ``target_acc`` final-epoch
    test accuracy, at most ``max_params`` parameters, at most ``max_epochs`` epochs and at most
    ``max_macs`` multiply-adds per image (None: no limit)."""

    max_params: int | None
    max_epochs: int | None
    target_acc: float
    max_macs: int | None = None

    @classmethod
    def of(cls, node: Any) -> Budget:
        """The budget in a config's ``budget`` node or a record's ``budget`` field; every
        missing or malformed value comes from the default budget."""
        node = node if isinstance(node, dict) else {}
        values = {}
        for f in fields(cls):
            value = node.get(f.name, getattr(DEFAULT_BUDGET, f.name, None))
            ok = value is None and f.name != "target_acc" or is_number(value)
            values[f.name] = value if ok else getattr(DEFAULT_BUDGET, f.name)
        return cls(**values)

    def check(self, params: int, epochs: int, macs: int | None = None) -> None:
        """Raise BudgetError, before anything trains, for a run over any limit."""
        if self.max_params is not None and params > self.max_params:
            raise BudgetError(
                f"refused before training: the model has {params:,} trainable parameters, over "
                f"budget.max_params={self.max_params:,}; shrink model.widths or raise the budget."
            )
        if self.max_epochs is not None and epochs > self.max_epochs:
            raise BudgetError(
                f"refused before training: trainer.epochs={epochs} is over "
                f"budget.max_epochs={self.max_epochs}."
            )
        if self.max_macs is not None and macs is not None and macs > self.max_macs:
            raise BudgetError(
                f"refused before training: the model takes {macs:,} multiply-adds per image, "
                f"over budget.max_macs={self.max_macs:,.0f}; shrink model.widths or kernels, pool "
                "earlier, or raise the budget."
            )

    def reached(self, test_acc: Any, params: Any, epochs: Any, macs: Any = None) -> bool:
        return (
            is_number(test_acc)
            and test_acc >= self.target_acc
            and (self.max_params is None or is_number(params) and params <= self.max_params)
            and (self.max_epochs is None or is_number(epochs) and epochs <= self.max_epochs)
            and (self.max_macs is None or not is_number(macs) or macs <= self.max_macs)
        )


def _default_budget() -> Budget:
    node = yaml.safe_load(DEFAULT_BUDGET_FILE.read_text())
    return Budget(node["max_params"], node["max_epochs"], node["target_acc"], node.get("max_macs"))


DEFAULT_BUDGET = _default_budget()


@dataclass
class RunRecord:
    """One run's ``metrics.json``. Accuracies are fractions (0.9943); test numbers are those
    of the final epoch, ``best_test_acc`` is only shown beside them."""

    status: str = RUNNING
    started_at: str | None = None
    overrides: list[str] | None = None  # the command-line overrides of this job
    choices: dict[str, str] | None = None  # the config group options, e.g. {"model": "lean"}
    job_num: int | None = None  # the job's number in its sweep
    study: str | None = None  # an Optuna trial: its study and trial number
    trial: int | None = None
    budget: dict[str, Any] | None = None  # the Budget this run is judged by
    params: int | None = None
    macs: int | None = None  # multiply-adds of one image's forward pass
    epochs: int | None = None  # epochs asked for
    epochs_run: int | None = None  # epochs trained (fewer when diverged or pruned)
    seed: int | None = None
    precision: str | None = None  # as asked (device.precision): auto, fp32 or bf16
    precision_used: str | None = None  # what it trained at: fp32 or bf16
    bf16_speedup: float | None = None  # the CPU probe's fp32 / bf16 step time, where one ran
    device: str | None = None
    threads: int | None = None
    test_acc: float | None = None
    test_loss: float | None = None
    best_test_acc: float | None = None
    best_epoch: int | None = None
    val_acc: float | None = None
    val_loss: float | None = None
    train_seconds: float | None = None
    images_per_sec: float | None = None
    train_macs: int | None = None  # multiply-adds of training: 3 × macs × images trained
    target_epoch: int | None = None  # the first epoch with test accuracy ≥ budget.target_acc
    target_seconds: float | None = None  # training seconds up to the end of target_epoch
    wall_seconds: float | None = None
    torch: str | None = None
    cpu: str | None = None
    cpu_capability: str | None = None  # torch's CPU kernel dispatch: AVX2, AVX512, ...
    gpu: str | None = None
    error: str | None = None  # why a run failed, was refused, diverged or was pruned
    extra: dict[str, Any] = field(default_factory=dict)  # anything else a reader found

    # -- writing ------------------------------------------------------------------------------

    def write(self, run_dir: Path) -> None:
        """Write ``metrics.json`` atomically, strictly valid JSON (non-finite numbers → null)."""
        body = {k: v for k, v in asdict(self).items() if k != "extra"}
        artifacts.write_json(run_dir / artifacts.METRICS, body)

    # -- reading ------------------------------------------------------------------------------

    @classmethod
    def read(cls, run_dir: Path) -> RunRecord:
        """Read a run's ``metrics.json``; raises OSError or ValueError when it cannot."""
        data = json.loads((run_dir / artifacts.METRICS).read_text())
        if not isinstance(data, dict):
            raise ValueError("it is not a JSON object")
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunRecord:
        """A record from parsed JSON: a value of the wrong type is dropped (a reader never
        trusts a file), unknown keys are kept in ``extra``."""
        known, extra = {}, {}
        for key, value in data.items():
            kind = _KINDS.get(key)
            if value is None or isinstance(value, float) and not math.isfinite(value):
                continue  # no value (non-strict writers put NaN where strict ones put null)
            if kind is not None and _fits(key, value, kind):
                known[key] = value
            else:  # a known field here is one this record rejected: see ``rejected``
                extra[key] = value
        return cls(**known, extra=extra)

    def rejected(self) -> list[str]:
        """The fields whose value in the file was dropped: of the wrong type or out of range."""
        return [key for key in self.extra if key in _KINDS]

    def level(self, budget: Budget | None = None) -> str:
        """The leaderboard level: target achieved, below target, or how the run ended."""
        if self.rejected():  # a file with a value no run can have is not trusted
            return "unreadable"
        if self.status == COMPLETED:
            b = budget or Budget.of(self.budget)
            reached = b.reached(self.test_acc, self.params, self.epochs, self.macs)
            return "target" if reached else "below"
        return self.status if self.status in LEVELS else "unreadable"

    def objective(self) -> float | None:
        """A search's single objective: validation accuracy (the test set never feeds a search
        that has a validation split), else final-epoch test accuracy; None if the run did not
        finish."""
        if self.status != COMPLETED:
            return None
        return self.val_acc if self.val_acc is not None else self.test_acc

    def objectives(self, names: list[str]) -> list[float] | None:
        if self.status != COMPLETED:
            return None
        return [getattr(self, name) for name in names]


def _kind(annotation: Any) -> type:
    """The JSON kind of a field's annotation (``int | None`` → int)."""
    hint = annotation
    if isinstance(hint, types.UnionType):
        hint = next(a for a in hint.__args__ if a is not type(None))
    return typing.get_origin(hint) or hint


_HINTS = typing.get_type_hints(RunRecord)
_KINDS = {f.name: _kind(_HINTS[f.name]) for f in fields(RunRecord) if f.name != "extra"}
NUMERIC = tuple(name for name, kind in _KINDS.items() if kind in (int, float))


# The largest number any field of a run holds (parameters, multiply-adds, seconds, seeds) and
# the fields that are fractions: a reader drops a number outside [0, that] as a broken value.
MAX_NUMBER = 1e15
FRACTIONS = ("test_acc", "best_test_acc", "val_acc")


def _fits(key: str, value: Any, kind: type) -> bool:
    if kind in (int, float):
        top = 1 if key in FRACTIONS else MAX_NUMBER
        return is_number(value) and 0 <= value <= top and (kind is float or value == int(value))
    if kind is list:
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if kind is dict:
        return isinstance(value, dict) and all(isinstance(k, str) for k in value)
    return isinstance(value, kind)
