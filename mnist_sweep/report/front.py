"""The confirmed size–accuracy front: the best confirmed model under each parameter bound.

Confirmation runs (``python -m mnist_sweep.confirm``: final-epoch test accuracy, held-out seeds, no
validation split) are read with ``collect`` and grouped by recipe, the same overrides apart from
``trainer.seed`` (``collect.recipe_key``). Each recipe gets its seeds, test accuracy mean, std and
worst seed, parameters, epochs, median training seconds and where it comes from. Under each bound,
the recipe with the best mean among those with at most that many parameters and at least
``min_seeds`` seeds is the front's model; ``front.html`` (table and chart) and ``front.md`` (the
table) show them.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from mnist_sweep import artifacts, checks
from mnist_sweep.formats import DASH, missing, num, pct, seed_list, size
from mnist_sweep.record import DEFAULT_BUDGET, FINISHED
from mnist_sweep.report import charts
from mnist_sweep.report.collect import collect, find_runs, recipe_key
from mnist_sweep.report.pages import render

DEFAULT_BOUNDS = (3_000, 5_000, 8_000, 12_000, 20_000)
DEFAULT_MIN_SEEDS = 3
FRONT_PAGE = "front.html"
FRONT_TABLE = "front.md"
PRESET_OVERRIDE = re.compile(r"^\+{0,2}experiment=")
# the front's columns: a recipe's cells (``cells``) after the bound, with their headings
HEADINGS = {
    "bound": "params ≤",
    "params": "params",
    "epochs": "epochs",
    "seeds": "seeds",
    "accuracy": "final test accuracy, mean ± std",
    "worst": "worst seed",
    "train": "median train s",
    "origin": "from",
    "sweep": "sweep folder",
}
# where a recipe's runs were exported (python -m mnist_sweep.export): its int8 file's figures
EXPORT_HEADINGS = {"int8": "int8 test accuracy, mean", "int8_size": "int8 size"}
RECIPE_COLUMNS = ("origin", "sweeps", "params", "epochs", "seeds", "n", "mean", "std", "worst",
                  "worst_seed", "train_seconds", "int8_acc", "int8_n", "int8_bytes",
                  "run_dirs")  # fmt: skip
NUMBERS = ("bound", "params", "epochs", "accuracy", "worst", "train", "int8", "int8_size")

log = logging.getLogger(__name__)


def whole_number(option: str, text: Any, lowest: int) -> int:
    """``text`` as an integer of at least ``lowest``; a ConfigError naming ``option`` if not."""
    try:
        value: Any = int(text)
    except (TypeError, ValueError):
        value = text
    checks.number(option, value, lowest, integer=True)
    return value


def parse_bounds(texts: Sequence[Any]) -> list[int]:
    """Parameter bounds from the command line: positive integers, sorted, each once."""
    return sorted({whole_number("--bounds", t, 1) for t in texts})


def confirmed_runs(df: pd.DataFrame) -> pd.DataFrame:
    """Finished runs with a final test accuracy and a seed that held out no validation split: what
    a confirmation trains (a search trial, scored on validation, is not one)."""
    keep = df["level"].isin(FINISHED) & df["test_acc"].notna() & df["seed"].notna()
    return df[keep & df["val_acc"].isna()]


def origin(run: pd.Series) -> str:
    """Where a recipe comes from: the study and trial it confirms, else the preset it was composed
    from (with its other overrides), else its overrides without the seed."""
    if isinstance(run.get("study"), str) and not missing(run.get("trial")):
        return f"study {run['study']}, trial {round(run['trial'])}"
    key = recipe_key(run["overrides"])
    choices = run.get("choices")
    preset = choices.get("experiment") if isinstance(choices, dict) else None
    if preset:
        rest = " ".join(o for o in key if not PRESET_OVERRIDE.match(o))
        return f"preset {preset}" + (f" with {rest}" if rest else "")
    return " ".join(key) or "default recipe"


def recipes(df: pd.DataFrame) -> pd.DataFrame:
    """One row per recipe of the confirmed runs, in launch order: seeds, test accuracy mean, std
    (over seeds) and worst seed, parameters, epochs, median training seconds, origin, sweeps. A
    seed run twice counts once, with its latest run."""
    runs = confirmed_runs(df)
    runs = runs.assign(**{c: float("nan") for c in ("int8_acc", "int8_bytes") if c not in runs})
    rows = []
    for _, group in runs.groupby(runs["overrides"].map(recipe_key), sort=False):
        group = group.drop_duplicates("seed", keep="last").sort_values("seed")
        worst = group.loc[group["test_acc"].idxmin()]
        rows.append(
            {
                "origin": origin(group.iloc[0]),
                "sweeps": list(dict.fromkeys(group["sweep"])),
                "params": group["params"].iloc[0],
                "epochs": group["epochs"].iloc[0],
                "seeds": group["seed"].astype(int).tolist(),
                "n": len(group),
                "mean": group["test_acc"].mean(),
                "std": group["test_acc"].std(ddof=1),
                "worst": worst["test_acc"],
                "worst_seed": int(worst["seed"]),
                "train_seconds": group["train_seconds"].median(),
                "int8_acc": group["int8_acc"].mean(),  # NaN where no seed's run was exported
                "int8_n": int(group["int8_acc"].notna().sum()),
                "int8_bytes": group["int8_bytes"].median(),
                "run_dirs": group["run_dir"].tolist(),
            }
        )
    return pd.DataFrame(rows, columns=RECIPE_COLUMNS)


def pick(table: pd.DataFrame, bounds: Sequence[int], min_seeds: int) -> list[dict | None]:
    """Per bound, the recipe with at least ``min_seeds`` seeds and at most that many parameters
    with the best mean (ties: the better worst seed, then the smaller); None where there is none."""
    counted = table[table["n"] >= min_seeds].sort_values(
        ["mean", "worst", "params"], ascending=[False, False, True], kind="stable"
    )
    return [next(iter(counted[counted["params"] <= b].to_dict("records")), None) for b in bounds]


def cells(recipe: dict | None) -> dict[str, str]:
    """A recipe's cells as people read them (every one a dash for no recipe)."""
    if recipe is None:
        return {key: DASH for key in HEADINGS | EXPORT_HEADINGS if key != "bound"}
    int8 = pct(recipe["int8_acc"], unit="")
    if recipe["int8_n"] and recipe["int8_n"] < recipe["n"]:
        int8 += f" ({recipe['int8_n']} of {recipe['n']} seeds)"
    spread = "" if missing(recipe["std"]) else f" ± {pct(recipe['std'], unit='')}"
    train = recipe["train_seconds"]
    return {
        "params": num(recipe["params"]),
        "epochs": num(recipe["epochs"]),
        "seeds": seed_list(recipe["seeds"]),
        "accuracy": pct(recipe["mean"], unit="") + spread,
        "worst": f"{pct(recipe['worst'], unit='')} (seed {recipe['worst_seed']})",
        "train": DASH if missing(train) else f"{train:.1f}",
        "origin": recipe["origin"],
        "sweep": ", ".join(recipe["sweeps"]),
        "int8": int8,
        "int8_size": size(recipe["int8_bytes"]),
    }


def headings(exported: bool) -> dict[str, str]:
    """The front's columns: the int8 columns before the sweep folder where a model was
    exported."""
    if not exported:
        return dict(HEADINGS)
    keys = list(HEADINGS)
    at = keys.index("origin")
    order = [*keys[:at], *EXPORT_HEADINGS, *keys[at:]]
    return {k: HEADINGS.get(k) or EXPORT_HEADINGS[k] for k in order}


def markdown(rows: list[dict[str, str]], columns: dict[str, str] = HEADINGS) -> str:
    """The front as a Markdown table, one row per bound."""
    lines = [
        "| " + " | ".join(columns.values()) + " |",
        "|" + "|".join("---:" if key in NUMBERS else "---" for key in columns) + "|",
    ]
    for row in rows:
        shown = {k: v.replace("|", "\\|") for k, v in row.items()}
        if shown["sweep"] != DASH:
            shown["sweep"] = ", ".join(f"`{s}`" for s in row["sweep"].split(", "))
        lines.append("| " + " | ".join(shown[key] for key in columns) + " |")
    return "\n".join(lines)


def _run_dirs(paths: Sequence[Path]) -> tuple[Path, list[Path]]:
    """The run folders at or below ``paths``, each once, and the folder that holds them all.
    Raises NoRunsError for a path that holds no runs."""
    found: dict[Path, Path] = {}
    for path in paths:
        for run_dir in find_runs(path):
            found.setdefault(run_dir.resolve(), run_dir)
    base = Path(os.path.commonpath([p.resolve() for p in paths]))
    return base, list(found.values())


def front_runs(
    paths: Sequence[Path],
    bounds: Sequence[int] = DEFAULT_BOUNDS,
    min_seeds: int = DEFAULT_MIN_SEEDS,
) -> list[Path]:
    """The run folders of the recipes the front shows (each once): what ``--export`` exports."""
    base, run_dirs = _run_dirs(paths)
    chosen = pick(recipes(collect(base, run_dirs)), bounds, min_seeds)
    return list(dict.fromkeys(d for r in chosen if r is not None for d in r["run_dirs"]))


def write_front(
    paths: Sequence[Path],
    bounds: Sequence[int] = DEFAULT_BOUNDS,
    min_seeds: int = DEFAULT_MIN_SEEDS,
    out: Path | None = None,
) -> tuple[Path, str]:
    """Write ``front.html`` and ``front.md`` into ``out`` (default: the folder holding every
    path) from the runs at or below ``paths``; returns the page and the Markdown table."""
    base, run_dirs = _run_dirs(paths)
    df = collect(base, run_dirs)
    table = recipes(df)
    chosen = pick(table, bounds, min_seeds)
    rows = [{"bound": num(b)} | cells(r) for b, r in zip(bounds, chosen, strict=True)]
    counted = table[table["n"] >= min_seeds]
    short = table[table["n"] < min_seeds]
    if len(short):  # said on the command line: these rows stand outside the front
        log.warning(
            "%d of %d recipes have fewer than %d seeds and stand outside the front: %s",
            len(short),
            len(table),
            min_seeds,
            "; ".join(f"{r['origin']} ({r['n']} seeds)" for r in short.to_dict("records")),
        )
    targets = confirmed_runs(df)["target_acc"].mode()
    target_acc = float(targets.iloc[0]) if len(targets) else DEFAULT_BUDGET.target_acc
    best = pd.DataFrame([r for r in chosen if r is not None], columns=table.columns)
    columns = headings(bool(table["int8_n"].any()))
    text = markdown(rows, columns)
    out = out or base
    out.mkdir(parents=True, exist_ok=True)
    context = {
        "title": out.resolve().name,
        "sources": [str(p) for p in paths],
        "headings": columns,
        "numbers": NUMBERS,
        "rows": rows,
        "recipes": [cells(r) | {"n": r["n"]} for r in table.to_dict("records")],
        "min_seeds": min_seeds,
        "n_runs": int(table["n"].sum()),
        "n_counted": len(counted),
        "chart": charts.size_front(counted, best, bounds, target_acc) if len(counted) else "",
        "target_acc": target_acc,
        "max_epochs": None,
        "generated": datetime.now().isoformat(timespec="seconds"),
    }
    artifacts.write_atomic(out / FRONT_TABLE, text + "\n")
    page = out / FRONT_PAGE
    artifacts.write_atomic(page, render("front.html.j2", context))
    return page, text
