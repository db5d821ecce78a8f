"""``leaderboard.html`` and ``.csv`` for a folder of runs, and ``<study>.html`` for an Optuna
study: the table model, the charts and the study view on one self-contained page."""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
from sqlalchemy.engine import make_url

from mnist_sweep import artifacts, storage, trial_attrs
from mnist_sweep.record import DEFAULT_BUDGET, FINISHED
from mnist_sweep.report import board, charts, live
from mnist_sweep.report.collect import NoRunsError, collect, seed_groups
from mnist_sweep.report.pages import json_script, render
from mnist_sweep.report.run_page import write_run_reports
from mnist_sweep.report.study import open_study, study_view, sweep_study

log = logging.getLogger(__name__)


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
    data = board.page_data(table, state, view)
    return {
        "target_acc": target_acc,
        "max_epochs": int(max_epochs.mode().iloc[0]) if len(max_epochs) else None,
        "heading": heading,
        "title": title,
        "path": str(path.resolve()),
        "has_val": bool(table["val_acc"].notna().any()),
        "has_trial": bool(table["trial"].notna().any()),
        "has_export": bool(table["int8_acc"].notna().any()),
        "has_curves": any(charts.is_line(curve) for curve in table["curve"]),
        "summary": board.summary(table),
        "groups": seed_groups(table).to_dict("records"),
        "budget": budget,
        "live": data["live"],
        "study": view,
        "data_json": json_script(data),
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
    artifacts.write_atomic(html.with_suffix(".csv"), board.csv_text(table))
    artifacts.write_atomic(html, render("leaderboard.html.j2", context))
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
    table = board.rows(collect(path))
    if run_reports:
        write_run_reports(list(table["run_dir"]))
    study = _sweep_study(table)
    title = path.resolve().name
    return _write_page(
        path / artifacts.LEADERBOARD, "Leaderboard", title, table, live.read(path), study
    )


def _beside(url: str) -> Path:
    """The folder of a SQLite or journal file (``open_study`` checked it exists), else the
    current folder."""
    if url.startswith(storage.JOURNAL):
        return Path(url[len(storage.JOURNAL) :]).parent
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        return Path(parsed.database).parent
    return Path.cwd()


def safe_name(name: str) -> str:
    """A study's name as a file name: any other Optuna client may have named it ``../x``, so
    only letters, digits, '_', '.' and '-' are kept (others become '_'), never a leading dot."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:100].lstrip(".") or "study"


def write_study_page(
    url: str, name: str | None = None, out: Path | None = None, *, run_reports: bool = True
) -> Path:
    """Build ``<study>.html`` and ``.csv``: the study at storage ``url`` and the runs its trials
    point to. The page goes into ``out``, by default beside a SQLite or journal file, else the
    current folder. Raises StudyError for a bad storage or study, NoRunsError when no trial's run
    folder exists."""
    study = open_study(url, name)
    trials = study.get_trials(deepcopy=False)
    run_dirs = list(dict.fromkeys(d for t in trials for d in trial_attrs.run_dirs(t) if d.is_dir()))
    if not run_dirs:
        raise NoRunsError(
            f"no trial of study {study.study_name!r} in {storage.hide_password(url)} points to "
            "a run folder that exists (user attribute run_dir): were they moved or deleted?"
        )
    out = out or _beside(url)
    table = board.rows(collect(out, run_dirs))
    if run_reports:
        write_run_reports(list(table["run_dir"]))
    html = out / f"{safe_name(study.study_name)}.html"
    return _write_page(
        html, f"Study {study.study_name}", storage.hide_password(url), table, None, study
    )
