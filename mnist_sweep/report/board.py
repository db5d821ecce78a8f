"""The leaderboard's table model: one row per run with its name and link, the summary above the
table, the config values that differ between runs, the CSV, and the JSON the page's script draws."""

from __future__ import annotations

from collections import Counter
from csv import QUOTE_NONNUMERIC
from datetime import datetime
from itertools import chain
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import is_numeric_dtype

from mnist_sweep.artifacts import RUN_REPORT
from mnist_sweep.formats import missing
from mnist_sweep.record import FINISHED, INTERRUPTED, LEVELS, RUNNING
from mnist_sweep.report import charts, live
from mnist_sweep.report.collect import SEED_OVERRIDE

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
    "train_macs": "train_macs",
    "target_epoch": "target_epoch",
    "target_seconds": "target_seconds",
    "wall_seconds": "wall_seconds",
    "machine": "machine",
    "int8_acc": "int8_test_acc",
    "int8_bytes": "int8_bytes",
    "changes": "key_changes",
    "seed": "seed",
    "job_num": "job_num",
    "trial": "trial",
    "started_at": "started_at",
    "pareto": "pareto_front",
}
BOOKKEEPING_KEYS = ("search.study", "search.trial")  # differ in every trial: not a difference
CSV_INTEGERS = (
    "params",
    "best_epoch",
    "epochs",
    "train_macs",
    "target_epoch",
    "int8_bytes",
    "seed",
    "job_num",
    "trial",
)


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # what a spreadsheet reads as a formula


def csv_text(table: pd.DataFrame) -> str:
    """The table as ``leaderboard.csv``: the CSV columns, counts as whole numbers, text quoted
    (a lone carriage return stays inside its cell) and safe to open in a spreadsheet."""
    csv = table[list(CSV_COLUMNS)].copy()
    csv[list(CSV_INTEGERS)] = csv[list(CSV_INTEGERS)].round().astype("Int64")
    text = [c for c in csv.columns if not is_numeric_dtype(csv[c])]  # numbers need no guard
    csv[text] = csv[text].map(spreadsheet_safe)
    return csv.rename(columns=CSV_COLUMNS).to_csv(index=False, quoting=QUOTE_NONNUMERIC)


def spreadsheet_safe(value: Any) -> Any:
    """A text cell that a spreadsheet would run as a formula, behind a leading ``'`` (OWASP's
    advice against CSV injection); numbers, negative ones too, stay as they are."""
    return f"'{value}" if isinstance(value, str) and value.startswith(FORMULA_START) else value


def _name(row: dict[str, Any]) -> str:
    """What the report column calls a run: its trial (and seed, for a trial's seed repeats),
    else its key changes, else its folder."""
    if not missing(row["trial"]):
        overrides = row["overrides"] if isinstance(row["overrides"], list) else []
        seeded = any(map(SEED_OVERRIDE.match, overrides))
        seed = f" seed {round(row['seed'])}" if seeded and not missing(row["seed"]) else ""
        return f"trial {round(row['trial'])}{seed}"
    changes = row["key_changes"]
    if changes is None:
        return row["path"]
    return " ".join(changes) if changes else "base config"


def rows(df: pd.DataFrame) -> pd.DataFrame:
    """The leaderboard's rows with the link, the run's name and the key changes in words."""
    table = df.copy()
    if "trial" not in table:
        table["trial"] = np.nan
    table["report"] = table["path"].map(lambda p: f"{p}/{RUN_REPORT}")
    table["changes"] = table["key_changes"].map(lambda c: "; ".join(c) if c is not None else "")
    columns = ["trial", "key_changes", "path", "overrides", "seed"]
    table["name"] = [_name(r) for r in table[columns].to_dict("records")]
    return table


def summary(table: pd.DataFrame) -> dict[str, Any]:
    """Above the table: how many runs, by status, the best run, the smallest on target and the
    finished run that reached the target accuracy in the fewest training seconds."""
    done = table[table["level"].isin(FINISHED)].dropna(subset=["test_acc"])
    reached = table[table["level"] == "target"]
    best = done.sort_values(["test_acc", "params"], ascending=[False, True]).head(1)
    smallest = reached.sort_values(["params", "test_acc"], ascending=[True, False]).head(1)
    timed = done.dropna(subset=["target_seconds"])
    fastest = timed.sort_values(["target_seconds", "train_macs"], na_position="last").head(1)
    counts = Counter(table["level"])
    return {
        "n": len(table),
        "counts": [(level, counts[level]) for level in LEVELS if counts[level]],
        "best": best.to_dict("records")[0] if len(best) else None,
        "smallest": smallest.to_dict("records")[0] if len(smallest) else None,
        "fastest": fastest.to_dict("records")[0] if len(fastest) else None,
    }


def _config_differences(flat: pd.Series, pairs: pd.Series) -> tuple[list[str], list[list[Any]]]:
    """The config keys whose values differ between runs (or that some runs lack), in the order
    of the first config that has them, and each run's values of them (a run without a config
    has none). ``flat`` and ``pairs``: each run's flat config and its ``(key, value)`` pairs."""
    known = [p for p in pairs if isinstance(p, frozenset)]
    counts = Counter(chain.from_iterable(known))  # a pair every run has is no difference
    differ = {k for (k, _), n in counts.items() if n < len(known)} - set(BOOKKEEPING_KEYS)
    keys: list[str] = []
    for config in flat:
        if len(keys) == len(differ):
            break
        keys += [k for k in (config or {}) if k in differ and k not in keys]
    return keys, [[f.get(k) for k in keys] if isinstance(f, dict) else None for f in flat]


def _column(series: pd.Series, digits: int = 0) -> list[Any]:
    """A numeric column as JSON values: NaN becomes null, numbers are rounded to ``digits``
    (whole numbers without a decimal point)."""
    values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    finite = np.isfinite(values)
    rounded = np.round(values, digits).tolist()
    whole = digits == 0
    return [
        (int(v) if whole else v) if ok else None
        for v, ok in zip(rounded, finite.tolist(), strict=True)
    ]


def _curve(curve: Any) -> list[float | None] | None:
    if not isinstance(curve, list):
        return None
    return [None if v is None else round(v, 5) for v in curve]


def page_data(
    table: pd.DataFrame, state: dict[str, Any] | None, study: dict[str, Any] | None
) -> dict[str, Any]:
    """Everything the page's script draws, as JSON: the runs by column, their curves, the
    config keys that differ between them, the sweep's live state and the study."""
    keys, values = _config_differences(table["config_flat"], table["config_pairs"])
    longest = table["wall_seconds"].max()
    live_state = None
    if state is not None:
        live_state = {
            "state": state["state"],
            "done": int((~table["level"].isin((RUNNING, INTERRUPTED))).sum()),
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
            "train_macs": _column(table["train_macs"]),
            "target_epoch": _column(table["target_epoch"]),
            "target_seconds": _column(table["target_seconds"], 1),
            "wall_seconds": _column(table["wall_seconds"], 1),
            "machine": table["machine"].tolist(),
            "int8_acc": _column(table["int8_acc"], 6),
            "int8_bytes": _column(table["int8_bytes"]),
            "export_problem": (table["export_status"] == "problem").tolist(),
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
