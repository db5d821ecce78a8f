"""One run's ``report.html``: curves, performance, architecture, confusion matrix, misclassified
digits and config, read from the files in its folder; and rebuilding the reports of many runs."""

from __future__ import annotations

import json
import logging
import os
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from mnist_sweep import architecture, artifacts
from mnist_sweep.artifacts import RUN_REPORT
from mnist_sweep.checks import is_int
from mnist_sweep.errors import WriteError
from mnist_sweep.record import FINISHED
from mnist_sweep.report import charts
from mnist_sweep.report.pages import render
from mnist_sweep.report.run_files import read_history, read_run

# Stale run reports per worker below which one process is quicker than starting workers.
PARALLEL_REPORTS_FROM = 4
log = logging.getLogger(__name__)


def _short(run_dir: Path) -> str:
    """A run's name for people: the last three parts of its path (date/time/job)."""
    return "/".join(run_dir.resolve().parts[-3:])


def _architecture(run_dir: Path, config: dict[str, Any] | None) -> tuple[list[dict], str]:
    """The rows of the run's architecture table (name, out_shape, params, macs): as the run
    recorded them, else, for this package's family, from the config's block grammar."""
    recorded = _recorded_architecture(run_dir)
    if recorded is not None:
        return recorded, ""
    if not config or not isinstance(config.get("model"), dict):
        return [], "no model config (.hydra/config.yaml is missing or unreadable)"
    if not architecture.is_native(config["model"]):
        return [], f"{artifacts.ARCHITECTURE} is missing: the run did not record its own module"
    try:
        return [r.as_row() for r in architecture.layers(architecture.parse(config["model"]))], ""
    except Exception as exc:  # a config this version cannot read: say why, keep the page
        return [], f"the model config does not describe a network: {exc}"


def _recorded_architecture(run_dir: Path) -> list[dict] | None:
    """``architecture.json``'s rows, each checked; None when it is missing or malformed."""
    try:
        rows = json.loads((run_dir / artifacts.ARCHITECTURE).read_text())["layers"]
        ok = all(
            isinstance(r["name"], str) and is_int(r["params"]) and is_int(r["macs"]) for r in rows
        )
    except Exception:  # missing, unreadable or not the table
        return None
    return rows if ok else None


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
        return (run_dir / artifacts.CONFIG).read_text()
    except (OSError, ValueError):
        return ""


def _run_context(run_dir: Path) -> dict[str, Any]:
    """Everything ``run.html.j2`` shows, read from ``run_dir``; missing parts become notes."""
    run = read_run(run_dir)
    history = read_history(run_dir)
    layers, arch_note = _architecture(run_dir, run["config"])
    params_total = sum(layer["params"] for layer in layers)
    macs_total = sum(layer["macs"] for layer in layers)
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
    page = render("run.html.j2", _run_context(run_dir))
    path = run_dir / RUN_REPORT
    artifacts.write_atomic(path, page)
    return path


def run_ended(run_dir: Path) -> None:
    """What an entry point calls when one of its runs ends: the run's report.html; a report that
    cannot be built is one warning, never a failure of the run."""
    if problem := _try_run_report(run_dir):
        log.warning("%s not written: %s: %s", RUN_REPORT, type(problem).__name__, problem)


def _stale(run_dir: Path) -> bool:
    report = run_dir / RUN_REPORT
    if not report.exists():
        return True
    written = report.stat().st_mtime
    sources = (run_dir / artifacts.METRICS, run_dir / artifacts.EXPORT)
    return any(path.exists() and path.stat().st_mtime > written for path in sources)


def _try_run_report(run_dir: Path) -> Exception | None:
    """Write one run's report; why it failed, or None."""
    try:
        write_run_report(run_dir)
    except Exception as exc:  # one broken run must not stop the leaderboard
        return exc
    return None


def write_run_reports(run_dirs: list[Path], workers: int | None = None) -> int:
    """Write ``report.html`` into every run lacking a current one, with up to ``workers``
    processes (default: one per core); returns how many were written. A report that cannot be
    built is a warning; one that cannot be written (a full disk) raises its WriteError, so no
    board is written that links pages missing from the disk."""
    stale = [d for d in run_dirs if _stale(d)]
    workers = min(workers or os.cpu_count() or 1, len(stale) // PARALLEL_REPORTS_FROM)
    if workers < 2:
        problems = [_try_run_report(d) for d in stale]
    else:
        # forked workers: a report draws with numpy and matplotlib, never with torch (whose
        # threads a sweep's own process has started, and which do not survive a fork)
        with ProcessPoolExecutor(max_workers=workers) as pool:
            problems = list(pool.map(_try_run_report, stale))
    for run_dir, problem in zip(stale, problems, strict=True):
        if problem and not isinstance(problem, WriteError):
            log.warning(
                "%s not written for %s: %s: %s",
                RUN_REPORT,
                run_dir,
                type(problem).__name__,
                problem,
            )
    unwritable = [p for p in problems if isinstance(p, WriteError)]
    if unwritable:  # a full or read-only disk: no board that links pages it could not write
        raise unwritable[0]
    return len(stale)
