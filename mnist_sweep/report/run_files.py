"""One run's files read into plain values: its composed config (resolved where it can be), its
record with the level and budget the reports judge it by, its export, history and learning curve.

Nothing here trusts a file: a missing, truncated or garbled one becomes a note, never an error.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
import reprlib
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from omegaconf import OmegaConf

from mnist_sweep import artifacts
from mnist_sweep.record import LEVELS, RUNNING, Budget, RunRecord

_REFERENCE = re.compile(r"\$\{([A-Za-z_][\w.]*)\}")
_ENV = re.compile(r"\$\{oc\.env:([A-Za-z_]\w*)(?:,([\w./ -]*))?\}")  # ${oc.env:NAME,default}
CURVE_COLUMNS = ("val_acc", "test_acc")  # a run's learning curve: the first one its history has
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def in_sweep(run_dir: Path) -> bool:
    return (run_dir.parent / artifacts.MULTIRUN).exists()


def read_config(run_dir: Path) -> dict[str, Any] | None:
    """The run's composed config (.hydra/config.yaml), resolved where it can be; else None."""
    try:
        text = (run_dir / artifacts.CONFIG).read_text()
        plain = yaml.load(text, Loader=_Loader)
    except Exception:  # missing, unreadable or not YAML: the page says "no config"
        return None
    if not isinstance(plain, dict):
        return None
    if "${" not in text:
        return plain
    try:
        return _resolve_references(plain, plain)
    except _NotSimple:
        pass
    try:
        cfg = OmegaConf.create(plain)
        resolved = OmegaConf.to_container(cfg, resolve=True)
    except Exception:  # an interpolation that only resolves inside the run, e.g. ${hydra:...}
        return plain
    return resolved if isinstance(resolved, dict) else None


class _NotSimple(Exception):
    """An interpolation other than a whole-value ``${a.b}`` reference or a plain
    ``${oc.env:NAME,default}``: OmegaConf resolves it."""


def _resolve_references(node: Any, root: dict[str, Any], depth: int = 0) -> Any:
    """``node`` with every whole-value ``${a.b}`` replaced by that node of ``root`` and every
    ``${oc.env:NAME,default}`` by the variable or its default: what OmegaConf does for these, at
    a fraction of its cost (reading 10,000 runs)."""
    if depth > 32:
        raise _NotSimple
    if isinstance(node, dict):
        return {k: _resolve_references(v, root, depth) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve_references(v, root, depth) for v in node]
    if not isinstance(node, str) or "${" not in node:
        return node
    env = _ENV.fullmatch(node)
    if env:
        name, default = env.groups()
        if name not in os.environ and default is None:
            raise _NotSimple  # OmegaConf's error: the config keeps its text
        return os.environ.get(name, (default or "").strip())
    match = _REFERENCE.fullmatch(node)
    if not match:
        raise _NotSimple
    target: Any = root
    for part in match.group(1).split("."):
        if not isinstance(target, dict) or part not in target:
            raise _NotSimple
        target = target[part]
    return _resolve_references(target, root, depth + 1)


def run_budget(record: RunRecord, config: dict[str, Any] | None) -> Budget:
    """The budget the run was held to: as recorded, else its config's, else the default."""
    if record.budget is not None:
        return Budget.of(record.budget)
    return Budget.of((config or {}).get("budget"))


def _hydra_overrides(run_dir: Path) -> list[str] | None:
    try:
        overrides = yaml.load((run_dir / artifacts.OVERRIDES).read_text(), Loader=_Loader)
    except Exception:
        return None
    return [str(o) for o in overrides] if isinstance(overrides, list) else None


def read_run(run_dir: Path) -> dict[str, Any]:
    """One run's record as a dict plus what the reports derive: level, detail, budget and
    overrides."""
    config = read_config(run_dir)
    detail = ""
    try:
        record = RunRecord.read(run_dir)
    except FileNotFoundError:
        record, detail = RunRecord(status=RUNNING), f"no {artifacts.METRICS} yet"
    except (OSError, ValueError, RecursionError) as exc:  # truncated or garbled, bad encoding
        record, detail = RunRecord(status="unreadable"), f"{artifacts.METRICS} is unreadable: {exc}"
    fields = asdict(record)
    run = {k: v for k, v in fields.items() if v is not None and k not in ("extra", "budget")}
    if not isinstance(run.get("overrides"), list):
        run["overrides"] = _hydra_overrides(run_dir)
    if "job_num" not in run and run_dir.name.isdigit() and in_sweep(run_dir):
        run["job_num"] = int(run_dir.name)  # Hydra names a job's directory by its number
    budget = run_budget(record, config)
    level = record.level(budget)
    if record.rejected():
        bad = ", ".join(f"{k}={reprlib.repr(record.extra[k])}" for k in record.rejected())
        detail = f"{artifacts.METRICS} holds a value no run can have: {bad}"
    elif record.error:
        detail = (record.error.strip().splitlines() or [""])[0]
    elif level == "unreadable" and not detail:
        detail = f"unknown status {record.status!r} in {artifacts.METRICS}"
    return run | {
        "run_dir": run_dir,
        "config": config,
        "budget": budget.max_params,
        "target_acc": budget.target_acc,
        "max_epochs": budget.max_epochs,
        "level": level,
        "label": LEVELS[level],
        "detail": detail,
        "machine": machine_label(record),
        **read_export(run_dir),
    }


EXPORT_COLUMNS = ("int8_acc", "int8_bytes", "onnx_bytes")  # from export.json, where exported


def read_export(run_dir: Path) -> dict[str, Any]:
    """What ``python -m mnist_sweep.export`` measured of a run (``export.json``): the int8
    file's test accuracy and size, the fp32 file's size and the export's status (``ok`` or
    ``problem``); empty for a run never exported or an export.json that cannot be read."""
    try:
        report = json.loads((run_dir / artifacts.EXPORT).read_text())
        files = report["files"]
        int8, fp32 = files[artifacts.ONNX_INT8], files[artifacts.ONNX]
        found = {
            "int8_acc": float(int8["accuracy"]),
            "int8_bytes": int(int8["bytes"]),
            "onnx_bytes": int(fp32["bytes"]),
            "export_status": str(report["status"]),
            "export_problems": [str(p) for p in report.get("problems") or []],
        }
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}
    return found


def machine_label(record: RunRecord) -> str:
    """Where a run trained, for a leaderboard cell: the precision used, then the GPU, or the CPU
    and torch's kernel capability ("bf16 · AMD EPYC 9B14 · AVX512"); empty when not recorded."""
    where = record.gpu or " · ".join(p for p in (record.cpu, record.cpu_capability) if p)
    return " · ".join(p for p in (record.precision_used, where) if p)


def read_history(run_dir: Path) -> pd.DataFrame | None:
    """history.csv as a table with an ``epoch`` column, or None when missing or unreadable."""
    try:
        history = pd.read_csv(run_dir / artifacts.HISTORY)
    except Exception:  # missing, empty or garbled: the page says there is no history
        return None
    if "epoch" not in history:
        return None
    history = history.apply(pd.to_numeric, errors="coerce").dropna(subset=["epoch"])
    return history if len(history) else None


def read_curve(run_dir: Path) -> list[float | None] | None:
    """Validation accuracy per epoch from history.csv (test accuracy when the run held out no
    validation set); None when there is no readable history."""
    try:
        with (run_dir / artifacts.HISTORY).open(newline="") as f:
            rows = list(csv.DictReader(f))
    except (OSError, ValueError, csv.Error):
        return None
    column = next(
        (c for c in CURVE_COLUMNS if any(r.get(c) not in (None, "") for r in rows)), None
    )  # test accuracy may be measured every few epochs only (trainer.test_every): gaps stay
    if column is None:
        return None
    curve = []
    for row in rows:
        try:
            value = float(row[column])
        except (TypeError, ValueError):
            value = None
        curve.append(value if value is not None and math.isfinite(value) else None)
    return curve
