"""Jinja2 pages from what ``collect`` read: one run's ``report.html`` and the leaderboard.

Both pages are single self-contained files (inline CSS, JS and charts), written atomically.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime
from numbers import Real
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
import yaml
from jinja2 import Environment, PackageLoader, StrictUndefined
from sqlalchemy.engine import make_url

from mnist_sweep import artifacts, models, storage
from mnist_sweep.record import DEFAULT_BUDGET, FINISHED, LEVELS, RUNNING
from mnist_sweep.report import charts, live
from mnist_sweep.report.collect import (
    SEED_OVERRIDE,
    NoRunsError,
    collect,
    read_history,
    read_run,
    seed_groups,
)
from mnist_sweep.report.study import open_study, study_view, sweep_study, trial_run_dirs

RUN_REPORT = "report.html"
LEADERBOARD = "leaderboard.html"
LEADERBOARD_CSV = "leaderboard.csv"
DASH = "—"
CSV_COLUMNS = {
    "run": "run",
    "name": "name",
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
BOOKKEEPING_KEYS = ("search.study", "search.trial")  # differ in every trial: not a difference
CSV_INTEGERS = ("params", "best_epoch", "epochs", "seed", "job_num", "trial")
# Stale run reports per worker below which one process is quicker than starting workers.
PARALLEL_REPORTS_FROM = 4
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


def _try_run_report(run_dir: Path) -> str | None:
    """Write one run's report; why it failed, or None."""
    try:
        write_run_report(run_dir)
    except Exception as exc:  # one broken run must not stop the leaderboard
        return f"{type(exc).__name__}: {exc}"
    return None


def write_run_reports(run_dirs: list[Path], workers: int | None = None) -> int:
    """Write ``report.html`` into every run lacking a current one, with up to ``workers``
    processes (default: one per core); returns how many were written."""
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
        if problem:
            log.warning("%s not written for %s: %s", RUN_REPORT, run_dir, problem)
    return len(stale)


def _name(row: dict[str, Any]) -> str:
    """What the report column calls a run: its trial (and seed, for a trial's seed repeats),
    else its key changes, else its folder."""
    if not _missing(row["trial"]):
        overrides = row["overrides"] if isinstance(row["overrides"], list) else []
        seeded = any(map(SEED_OVERRIDE.match, overrides))
        seed = f" seed {round(row['seed'])}" if seeded and not _missing(row["seed"]) else ""
        return f"trial {round(row['trial'])}{seed}"
    changes = row["key_changes"]
    if changes is None:
        return row["path"]
    return " ".join(changes) if changes else "base config"


def _table(df: pd.DataFrame) -> pd.DataFrame:
    """The leaderboard's rows with the link, the run's name and the key changes in words."""
    table = df.copy()
    if "trial" not in table:
        table["trial"] = np.nan
    table["report"] = table["path"].map(lambda p: f"{p}/{RUN_REPORT}")
    table["changes"] = table["key_changes"].map(lambda c: "; ".join(c) if c is not None else "")
    columns = ["trial", "key_changes", "path", "overrides", "seed"]
    table["name"] = [_name(r) for r in table[columns].to_dict("records")]
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


def _flat(node: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A config as ``{"a.b": value}``; lists stay whole values."""
    out: dict[str, Any] = {}
    for key, value in node.items():
        if isinstance(value, dict):
            out |= _flat(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = value
    return out


def _config_differences(configs: pd.Series) -> tuple[list[str], list[list[Any]]]:
    """The config keys whose values differ between runs, and each run's values of them (the
    comparison shows these; a run without a config has none)."""
    flat = [_flat(c) if isinstance(c, dict) else None for c in configs]
    seen: dict[str, set[str]] = {}
    for f in flat:
        for key, value in (f or {}).items():
            plain = isinstance(value, str | int | float | bool) or value is None
            seen.setdefault(key, set()).add(value if plain else json.dumps(value, default=str))
    known = [f for f in flat if f is not None]
    keys = [
        k
        for k, v in seen.items()
        if k not in BOOKKEEPING_KEYS and (len(v) > 1 or any(k not in f for f in known))
    ]
    return keys, [[f.get(k) for k in keys] if f is not None else None for f in flat]


def _column(series: pd.Series, digits: int = 0) -> list[Any]:
    """A numeric column as JSON values: NaN becomes null, numbers are rounded to ``digits``
    (whole numbers without a decimal point)."""
    if digits == 0:
        return [None if _missing(v) else round(v) for v in series.tolist()]
    return [None if _missing(v) else round(float(v), digits) for v in series.tolist()]


def _curve(curve: Any) -> list[float | None] | None:
    if not isinstance(curve, list):
        return None
    return [None if v is None else round(v, 5) for v in curve]


def page_data(
    table: pd.DataFrame, state: dict[str, Any] | None, study: dict[str, Any] | None
) -> dict[str, Any]:
    """Everything the page's script draws, as JSON: the runs by column, their curves, the
    config keys that differ between them, the sweep's live state and the study."""
    keys, values = _config_differences(table["config"])
    longest = table["wall_seconds"].max()
    live_state = None
    if state is not None:
        live_state = {
            "state": state["state"],
            "done": int((table["level"] != RUNNING).sum()),
            "expected": state.get("expected"),
            "reload_seconds": state.get("reload_seconds"),
            "generated": datetime.now().isoformat(timespec="seconds"),
            "quiet_after": live.quiet_after(None if np.isnan(longest) else float(longest)),
        }
    return {
        "rows": {
            "run": table["run"].tolist(),
            "trial": _column(table["trial"]),
            "name": table["name"].tolist(),
            "path": table["path"].tolist(),
            "report": table["report"].tolist(),
            "params": _column(table["params"]),
            "test_acc": _column(table["test_acc"], 6),
            "best_test_acc": _column(table["best_test_acc"], 6),
            "best_epoch": _column(table["best_epoch"]),
            "val_acc": _column(table["val_acc"], 6),
            "epochs": _column(table["epochs"]),
            "epochs_run": _column(table["epochs_run"]),
            "wall_seconds": _column(table["wall_seconds"], 1),
            "level": table["level"].tolist(),
            "detail": table["detail"].tolist(),
            "changes": [c if isinstance(c, list) else None for c in table["key_changes"]],
            "pareto": table["pareto"].astype(bool).tolist(),
        },
        "curves": [_curve(c) for c in table["curve"]],
        "config_keys": keys,
        "config": values,
        "live": live_state,
        "study": study,
        "levels": LEVELS,
        "colors": charts.COLORS,
        "target_acc": float(table["target_acc"].mode().iloc[0]),
    }


def _json_script(data: dict[str, Any]) -> str:
    """JSON safe inside a <script> element: no ``<`` that could close it or open a comment."""
    text = json.dumps(artifacts.finite(data), separators=(",", ":"), allow_nan=False, default=str)
    return text.replace("<", "\\u003c")


def _objective(table: pd.DataFrame, study: optuna.Study) -> str:
    """What the study's first objective is, in words, from its trials' configs."""
    for config in table["config"]:
        names = ((config or {}).get("search") or {}).get("objectives")
        if isinstance(names, list) and names:
            return str(names[0])
    if len(study.directions) == 1:
        return "validation accuracy" if table["val_acc"].notna().any() else "final test accuracy"
    return "objective 0"


def _leaderboard_context(
    heading: str,
    title: str,
    path: Path,
    table: pd.DataFrame,
    state: dict[str, Any] | None,
    study: Any,
) -> dict[str, Any]:
    done = table["level"].isin(FINISHED) & table["test_acc"].notna()
    budgets = table["budget"].dropna()
    budget = int(budgets.mode().iloc[0]) if len(budgets) else DEFAULT_BUDGET.max_params
    target_acc = float(table["target_acc"].mode().iloc[0])
    max_epochs = table["max_epochs"].dropna()
    view = None
    if study is not None:
        try:
            view = _live_part(
                path, state, "study", lambda: study_view(study, table, _objective(table, study))
            )
        except Exception as exc:  # a study this version cannot read: the runs still show
            log.warning("no study view for %s: %s: %s", study.study_name, type(exc).__name__, exc)
    data = page_data(table, state, view)
    return {
        "target_acc": target_acc,
        "max_epochs": int(max_epochs.mode().iloc[0]) if len(max_epochs) else None,
        "heading": heading,
        "title": title,
        "path": str(path.resolve()),
        "has_val": bool(table["val_acc"].notna().any()),
        "has_trial": bool(table["trial"].notna().any()),
        "has_curves": bool(table["curve"].notna().any()),
        "summary": _summary(table),
        "groups": seed_groups(table).to_dict("records"),
        "budget": budget,
        "live": data["live"],
        "study": view,
        "data_json": _json_script(data),
        "pareto_chart": _live_part(
            path,
            state,
            "pareto",
            lambda: charts.pareto(table, budget, target_acc) if done.any() else "",
        ),
        "journey_chart": _live_part(
            path, state, "journey", lambda: charts.journey(table, target_acc)
        ),
        "generated": datetime.now().isoformat(timespec="seconds"),
    }


# what a running sweep's page drew last, by its folder: its static charts and study view are
# redrawn at most once per reload of the page (they are most of a rewrite's cost), and always for
# a sweep that is not running
_LIVE: dict[tuple[Path, str], tuple[float, Any]] = {}


def _live_part(path: Path, state: dict[str, Any] | None, part: str, draw: Callable[[], Any]) -> Any:
    running = state is not None and state.get("state") == live.RUNNING
    drawn_at, drawn = _LIVE.get((path, part), (-math.inf, None))
    if running and time.monotonic() - drawn_at < (state.get("reload_seconds") or 0):
        return drawn
    drawn = draw()
    _LIVE[(path, part)] = (time.monotonic(), drawn)
    return drawn


def _write_page(
    html: Path,
    heading: str,
    title: str,
    table: pd.DataFrame,
    state: dict[str, Any] | None,
    study: Any,
) -> Path:
    """The page and its CSV (beside it, ``.csv``), each written atomically."""
    context = _leaderboard_context(heading, title, html.parent, table, state, study)
    page = _env.get_template("leaderboard.html.j2").render(context)
    csv = table[list(CSV_COLUMNS)].copy()
    csv[list(CSV_INTEGERS)] = csv[list(CSV_INTEGERS)].round().astype("Int64")
    artifacts.write_atomic(
        html.with_suffix(".csv"), csv.rename(columns=CSV_COLUMNS).to_csv(index=False)
    )
    artifacts.write_atomic(html, page)
    return html


def _sweep_study(table: pd.DataFrame) -> optuna.Study | None:
    """The Optuna study of the table's trials, found through the first trial's run folder."""
    trials = table[table["trial"].notna()]
    return sweep_study(trials["run_dir"].iloc[0]) if len(trials) else None


def write_leaderboard(path: Path, *, run_reports: bool = True) -> Path:
    """Build ``leaderboard.html`` and ``.csv`` in ``path`` from every run at or below it; for
    an Optuna sweep whose study can be opened, with the study view.

    With ``run_reports``, runs without a current ``report.html`` get one first (in parallel),
    so every link on the page works. Raises NoRunsError when ``path`` holds no runs.
    """
    table = _table(collect(path))
    if run_reports:
        write_run_reports(list(table["run_dir"]))
    study = _sweep_study(table)
    title = path.resolve().name
    return _write_page(path / LEADERBOARD, "Leaderboard", title, table, live.read(path), study)


def _beside(url: str) -> Path:
    """The folder of a SQLite or journal file (``open_study`` checked it exists), else the
    current folder."""
    if url.startswith(storage.JOURNAL):
        return Path(url[len(storage.JOURNAL) :]).parent
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        return Path(parsed.database).parent
    return Path.cwd()


def write_study_page(
    url: str, name: str | None = None, out: Path | None = None, *, run_reports: bool = True
) -> Path:
    """Build ``<study>.html`` and ``.csv``: the study at storage ``url`` and the runs its trials
    point to. The page goes into ``out``, by default beside a SQLite or journal file, else the
    current folder. Raises StudyError for a bad storage or study, NoRunsError when no trial's run
    folder exists."""
    study = open_study(url, name)
    trials = study.get_trials(deepcopy=False)
    run_dirs = list(dict.fromkeys(d for t in trials for d in trial_run_dirs(t) if d.is_dir()))
    if not run_dirs:
        raise NoRunsError(
            f"no trial of study {study.study_name!r} in {storage.hide_password(url)} points to "
            "a run folder that exists (user attribute run_dir): were they moved or deleted?"
        )
    out = out or _beside(url)
    table = _table(collect(out, run_dirs))
    if run_reports:
        write_run_reports(list(table["run_dir"]))
    html = out / f"{study.study_name}.html"
    return _write_page(
        html, f"Study {study.study_name}", storage.hide_password(url), table, None, study
    )
