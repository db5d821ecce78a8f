"""Jinja2 pages from what ``collect`` read: one run's ``report.html`` and the leaderboard.

Both pages are single self-contained files (inline CSS, JS and charts), written atomically.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from datetime import datetime
from numbers import Real
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from jinja2 import Environment, PackageLoader, StrictUndefined

from mnist_sweep import artifacts, models
from mnist_sweep.record import DEFAULT_BUDGET, FINISHED, LEVELS
from mnist_sweep.report import charts
from mnist_sweep.report.collect import collect, read_history, read_run, seed_groups

RUN_REPORT = "report.html"
LEADERBOARD = "leaderboard.html"
LEADERBOARD_CSV = "leaderboard.csv"
DASH = "—"
CSV_COLUMNS = {
    "run": "run",
    "path": "path",
    "report": "report",
    "label": "status",
    "detail": "detail",
    "params": "params",
    "test_acc": "test_acc",
    "best_test_acc": "best_test_acc",
    "best_epoch": "best_epoch",
    "val_acc": "val_acc",
    "epochs": "epochs",
    "wall_seconds": "wall_seconds",
    "changes": "key_changes",
    "seed": "seed",
    "job_num": "job_num",
    "trial": "trial",
    "started_at": "started_at",
    "pareto": "pareto_front",
}
CSV_INTEGERS = ("params", "best_epoch", "epochs", "seed", "job_num", "trial")
log = logging.getLogger(__name__)


def _missing(value: Any) -> bool:
    """True for anything a number filter cannot show: None, NaN, undefined, text."""
    return isinstance(value, bool) or not isinstance(value, Real) or math.isnan(value)


def pct(value: Any, digits: int = 2) -> str:
    """A 0..1 fraction as a percentage: 0.99412 → '99.41 %'."""
    return DASH if _missing(value) else f"{100 * value:.{digits}f}\u00a0%"


def num(value: Any) -> str:
    """A count with thousands separators: 13226 → '13,226'."""
    return DASH if _missing(value) else f"{round(value):,}"


def secs(value: Any) -> str:
    """A duration for people: '8.4 s', '3 min 05 s', '1 h 02 min'."""
    if _missing(value):
        return DASH
    if value < 60:
        return f"{value:.1f}\u00a0s"
    minutes, seconds = divmod(round(value), 60)
    if minutes < 60:
        return f"{minutes}\u00a0min {seconds:02d}\u00a0s"
    return f"{minutes // 60}\u00a0h {minutes % 60:02d}\u00a0min"


def sortkey(value: Any) -> str:
    """The ``data-sort`` value of a table cell: the raw number, empty when missing."""
    return "" if _missing(value) else repr(float(value))


_env = Environment(
    loader=PackageLoader("mnist_sweep.report", "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters |= {"pct": pct, "num": num, "secs": secs, "sortkey": sortkey}
_env.tests["missing"] = _missing
_env.globals |= {
    "LEVELS": LEVELS,
    "LEVEL_RANK": {level: rank for rank, level in enumerate(LEVELS)},
    "COLORS": charts.COLORS,
    "DASH": DASH,
}


def _short(run_dir: Path) -> str:
    """A run's name for people: the last three parts of its path (date/time/job)."""
    return "/".join(run_dir.resolve().parts[-3:])


def _architecture(config: dict[str, Any] | None) -> tuple[list[models.Layer], str]:
    if not config or not isinstance(config.get("model"), dict):
        return [], "no model config (.hydra/config.yaml is missing or unreadable)"
    try:
        return models.describe(config["model"], config.get("allowed_targets") or []), ""
    except Exception as exc:  # a config this version cannot build: say why, keep the page
        return [], f"the model config does not describe a network: {exc}"


def _predictions(run_dir: Path) -> dict[str, Any] | None:
    """Confusion matrix, per-class accuracy and the misclassified digits; None without them."""
    try:
        with np.load(run_dir / artifacts.PREDICTIONS, allow_pickle=False) as npz:
            pred, target = npz["pred"].astype(int), npz["target"].astype(int)
            wrong_index, wrong_images = npz["wrong_index"], npz["wrong_images"]
    except Exception:  # missing or truncated: the page says so
        return None
    if pred.shape != target.shape or not len(target):
        return None
    classes = max(10, int(max(pred.max(), target.max())) + 1)
    confusion = np.bincount(target * classes + pred, minlength=classes**2).reshape(classes, -1)
    per_class = confusion.diagonal() / np.maximum(confusion.sum(axis=1), 1)
    off = confusion * (1 - np.eye(classes, dtype=int))
    return {
        "confusion": confusion.tolist(),
        "per_class": per_class.tolist(),
        "support": confusion.sum(axis=1).tolist(),
        "max_diag": max(int(confusion.diagonal().max()), 1),
        "max_off": max(int(off.max()), 1),
        "errors": int(off.sum()),
        "total": len(target),
        "wrong": [
            {
                "src": charts.digit(img),
                "index": int(i),
                "true": int(target[i]),
                "pred": int(pred[i]),
            }
            for i, img in zip(wrong_index, wrong_images, strict=False)
        ],
    }


class _ConfigDumper(yaml.SafeDumper):
    """YAML with each list of plain values on one line (``widths: [8, 16, 16]``)."""

    def represent_list(self, data: list) -> yaml.Node:
        flat = not any(isinstance(v, list | dict) for v in data)
        return self.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flat)


_ConfigDumper.add_representer(list, _ConfigDumper.represent_list)


def _config_text(run_dir: Path, config: dict[str, Any] | None) -> str:
    if config is not None:
        return yaml.dump(config, Dumper=_ConfigDumper, sort_keys=False, allow_unicode=True)
    try:
        return (run_dir / ".hydra" / "config.yaml").read_text()
    except (OSError, ValueError):
        return ""


def _run_context(run_dir: Path) -> dict[str, Any]:
    """Everything ``run.html.j2`` shows, read from ``run_dir``; missing parts become notes."""
    run = read_run(run_dir)
    history = read_history(run_dir)
    layers, arch_note = _architecture(run["config"])
    params_total = sum(layer.params for layer in layers)
    macs_total = sum(layer.macs for layer in layers)
    if layers:  # a run that failed early may not have recorded them
        run.setdefault("params", params_total)
        run.setdefault("macs", macs_total)
    notes = []
    if history is None and run["level"] in FINISHED:
        notes.append(f"{artifacts.HISTORY} is missing or unreadable: no training curves.")
    predictions = _predictions(run_dir)
    if predictions is None and run["level"] in FINISHED:
        notes.append(f"{artifacts.PREDICTIONS} is missing or unreadable: no confusion matrix.")
    epoch_seconds = (
        history["seconds"].mean() if history is not None and "seconds" in history else None
    )
    return {
        "title": _short(run_dir),
        "run": run,
        "target_acc": run["target_acc"],
        "max_epochs": run["max_epochs"],
        "notes": notes,
        "history": history.to_dict("records") if history is not None else [],
        "history_columns": list(history.columns) if history is not None else [],
        "curves": charts.curves(history, run["target_acc"]) if history is not None else "",
        "epoch_seconds": epoch_seconds,
        "layers": layers,
        "arch_note": arch_note,
        "params_total": params_total,
        "macs_total": macs_total,
        "predictions": predictions,
        "config_text": _config_text(run_dir, run["config"]),
        "generated": datetime.now().isoformat(timespec="seconds"),
    }


def write_run_report(run_dir: Path) -> Path:
    """Write ``report.html`` into ``run_dir`` from the files there; returns its path."""
    page = _env.get_template("run.html.j2").render(_run_context(run_dir))
    path = run_dir / RUN_REPORT
    artifacts.write_atomic(path, page)
    return path


def _stale(run_dir: Path) -> bool:
    report, metrics = run_dir / RUN_REPORT, run_dir / artifacts.METRICS
    if not report.exists():
        return True
    return metrics.exists() and metrics.stat().st_mtime > report.stat().st_mtime


def _table(df: pd.DataFrame) -> pd.DataFrame:
    """The leaderboard's rows with the link and the key changes in words."""
    table = df.copy()
    table["report"] = table["path"].map(lambda p: f"{p}/{RUN_REPORT}")
    table["changes"] = table["key_changes"].map(lambda c: "; ".join(c) if c is not None else "")
    return table


def _summary(table: pd.DataFrame) -> dict[str, Any]:
    done = table[table["level"].isin(FINISHED)].dropna(subset=["test_acc"])
    reached = table[table["level"] == "target"]
    best = done.sort_values(["test_acc", "params"], ascending=[False, True]).head(1)
    smallest = reached.sort_values(["params", "test_acc"], ascending=[True, False]).head(1)
    counts = Counter(table["level"])
    return {
        "n": len(table),
        "counts": [(level, counts[level]) for level in LEVELS if counts[level]],
        "best": best.to_dict("records")[0] if len(best) else None,
        "smallest": smallest.to_dict("records")[0] if len(smallest) else None,
    }


def _leaderboard_context(path: Path, table: pd.DataFrame) -> dict[str, Any]:
    done = table["level"].isin(FINISHED) & table["test_acc"].notna()
    budgets = table["budget"].dropna()
    budget = int(budgets.mode().iloc[0]) if len(budgets) else DEFAULT_BUDGET.max_params
    target_acc = float(table["target_acc"].mode().iloc[0])
    max_epochs = table["max_epochs"].dropna()
    return {
        "target_acc": target_acc,
        "max_epochs": int(max_epochs.mode().iloc[0]) if len(max_epochs) else None,
        "title": path.resolve().name,
        "path": str(path.resolve()),
        "rows": table.to_dict("records"),
        "has_val": bool(table["val_acc"].notna().any()),
        "has_trial": bool(table["trial"].notna().any()),
        "summary": _summary(table),
        "groups": seed_groups(table).to_dict("records"),
        "budget": budget,
        "pareto_chart": charts.pareto(table, budget, target_acc) if done.any() else "",
        "journey_chart": charts.journey(table, target_acc),
        "generated": datetime.now().isoformat(timespec="seconds"),
    }


def write_leaderboard(path: Path) -> Path:
    """Build ``leaderboard.html`` and ``.csv`` in ``path`` from every run at or below it.

    Runs without a current ``report.html`` get one first, so every link on the page works.
    Raises NoRunsError when ``path`` does not exist or holds no runs.
    """
    table = _table(collect(path))
    for run_dir in table["run_dir"]:
        if _stale(run_dir):
            try:
                write_run_report(run_dir)
            except Exception as exc:  # one broken run must not stop the leaderboard
                log.warning("%s not written for %s: %s", RUN_REPORT, run_dir, exc)
    page = _env.get_template("leaderboard.html.j2").render(_leaderboard_context(path, table))
    csv = table[list(CSV_COLUMNS)].copy()
    csv[list(CSV_INTEGERS)] = csv[list(CSV_INTEGERS)].round().astype("Int64")
    artifacts.write_atomic(
        path / LEADERBOARD_CSV, csv.rename(columns=CSV_COLUMNS).to_csv(index=False)
    )
    artifacts.write_atomic(path / LEADERBOARD, page)
    return path / LEADERBOARD
