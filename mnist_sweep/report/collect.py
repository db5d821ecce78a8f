"""What runs left on disk as one pandas table: find, read (``run_files``), order and compare
runs, re-reading only runs whose files changed.

Nothing here trusts a file: a run with an unreadable ``metrics.json``, no ``history.csv`` or
foreign files beside its own still becomes a row, with a level and a line that says what is wrong.
"""

from __future__ import annotations

import os
import re
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mnist_sweep import artifacts
from mnist_sweep.errors import UserError
from mnist_sweep.record import FINISHED, NUMERIC
from mnist_sweep.report.run_files import EXPORT_COLUMNS, in_sweep, read_curve, read_run

SEED_OVERRIDE = re.compile(r"^\+{0,2}trainer\.seed=")
# overrides the Optuna sweeper adds to tag a job with its study and trial: not a change
_BOOKKEEPING = re.compile(r"^\+{0,2}search\.(study|trial)=")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIME = re.compile(r"(\d{2})-(\d{2})-(\d{2})(?:-(\d+))?")
PARALLEL_FROM = 1000  # runs per worker process below which reading in one process is quicker


class NoRunsError(UserError):
    """The path given to the report command does not exist or holds no runs."""


def find_runs(path: Path) -> list[Path]:
    """Every run directory at or below ``path``: one holding metrics.json or .hydra/."""
    if not path.exists():
        raise NoRunsError(f"{path} does not exist; give a run or sweep directory, or multirun/.")
    if not path.is_dir():
        raise NoRunsError(f"{path} is not a directory; give a run or sweep directory.")
    runs = []
    for folder, dirs, files in os.walk(path, followlinks=True):
        if artifacts.METRICS in files or artifacts.HYDRA_DIR in dirs:
            runs.append(Path(folder))
        dirs[:] = [d for d in dirs if d != artifacts.HYDRA_DIR]
    runs.sort()
    if not runs:
        raise NoRunsError(
            f"no runs found under {path}: a run directory holds {artifacts.METRICS} or "
            f"{artifacts.HYDRA_DIR}/ (runs live in outputs/ and multirun/)."
        )
    return runs


def _sweep_dir(run: dict[str, Any]) -> Path:
    run_dir: Path = run["run_dir"]
    return run_dir.parent if "job_num" in run or in_sweep(run_dir) else run_dir


def _dir_time(sweep: Path) -> str | None:
    """``<date>/<HH-MM-SS-ffffff>`` as a sortable ISO time, or None for other names."""
    match = _TIME.fullmatch(sweep.name)
    if not match or not _DATE.fullmatch(sweep.parent.name):
        return None
    h, m, s, frac = match.groups()
    return f"{sweep.parent.name}T{h}:{m}:{s}" + (f".{frac}" if frac else "")


def key_changes(overrides: pd.Series) -> pd.Series:
    """Each run's overrides minus those every run shares (a lone run keeps all of its own).

    None where a run's overrides are unknown (no readable metrics.json or .hydra/overrides.yaml).
    """
    known = [set(o) for o in overrides if isinstance(o, list)]
    base = set.intersection(*known) if len(known) > 1 else set()
    return overrides.map(
        lambda o: (
            [x for x in o if x not in base and not _BOOKKEEPING.match(x)]
            if isinstance(o, list)
            else None
        )
    )


def pareto_front(df: pd.DataFrame) -> pd.Series:
    """True for finished runs no other finished run matches: as small or smaller, and more
    accurate (or as accurate and smaller)."""
    front = pd.Series(False, index=df.index)
    done = df[df["level"].isin(FINISHED)].dropna(subset=["params", "test_acc"])
    ranked = done.sort_values(["params", "test_acc"], ascending=[True, False])["test_acc"]
    best_before = ranked.cummax().shift(fill_value=-np.inf)  # of every smaller (or tied) run
    front[ranked.index[ranked > best_before]] = True
    return front


def flat_config(config: Any, prefix: str = "") -> dict[str, Any] | None:
    """A config as ``{"a.b": value}`` (lists stay whole values); None for a run without one."""
    if not isinstance(config, dict):
        return None
    out: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict):
            out |= flat_config(value, f"{prefix}{key}.") or {}
        else:
            out[f"{prefix}{key}"] = value
    return out


def _hashable(value: Any) -> Any:
    plain = isinstance(value, str | int | float | bool) or value is None
    return value if plain else repr(value)


def _read(run_dir: Path) -> dict[str, Any]:
    """A run's row: its record, curve and flat config (with its ``(key, value)`` pairs, which
    the leaderboard compares between runs), read once per change of its files."""
    run = read_run(run_dir)
    flat = flat_config(run["config"])
    pairs = None if flat is None else frozenset((k, _hashable(v)) for k, v in flat.items())
    return run | {"curve": read_curve(run_dir), "config_flat": flat, "config_pairs": pairs}


# each run's row as last read by this process, with the signature of the files it came from: a
# live leaderboard rewritten at every job end re-reads only the runs whose files changed
_ROWS: dict[Path, tuple[tuple, dict[str, Any]]] = {}
# rewritten while a run trains and at its end, and by an export
_CHANGING = (artifacts.METRICS, artifacts.HISTORY, artifacts.EXPORT)
# written by Hydra when a job starts: once present, a change comes with a new metrics.json
_WRITTEN_ONCE = (artifacts.CONFIG, artifacts.OVERRIDES, f"../{artifacts.MULTIRUN}")


def _stat(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def _signature(run_dir: Path) -> tuple:
    """Size and modification time of every file a run's row is read from (None: absent); the
    files Hydra writes once are looked at again only while one of them was absent."""
    folder = str(run_dir)
    changing = tuple(_stat(os.path.join(folder, name)) for name in _CHANGING)
    cached = _ROWS.get(run_dir)
    if cached is not None and None not in cached[0][1]:
        return changing, cached[0][1]
    return changing, tuple(_stat(os.path.join(folder, name)) for name in _WRITTEN_ONCE)


def _read_all(run_dirs: list[Path]) -> list[dict[str, Any]]:
    """Every run's record and curve: from this process's cache when its files are unchanged;
    the others in worker processes, one per core, for large sweeps."""
    signatures = {d: _signature(d) for d in run_dirs}
    stale = [d for d, sig in signatures.items() if d not in _ROWS or _ROWS[d][0] != sig]
    workers = min(os.cpu_count() or 1, len(stale) // PARALLEL_FROM)
    if workers < 2:
        fresh = [_read(d) for d in stale]
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            fresh = list(pool.map(_read, stale, chunksize=256))
    for d, row in zip(stale, fresh, strict=True):
        _ROWS[d] = (signatures[d], row)  # a file changed since: a new signature, read again
    return [dict(_ROWS[d][1]) for d in run_dirs]


def _relative(run_dir: Path, path: Path) -> str:
    """``run_dir`` relative to ``path``, with ``/``: a string slice for a run below it."""
    below, top = str(run_dir), str(path).rstrip(os.sep) + os.sep
    if below.startswith(top) and os.sep == "/" and ".." not in below[len(top) :].split("/"):
        return below[len(top) :]
    return Path(os.path.relpath(run_dir, path)).as_posix()


def collect(path: Path, run_dirs: list[Path] | None = None) -> pd.DataFrame:
    """One row per run below ``path`` (or per run of ``run_dirs``, their paths relative to
    ``path``), in launch order, with ``run`` numbered from 1."""
    runs = _read_all(find_runs(path) if run_dirs is None else run_dirs)
    df = pd.DataFrame(runs)
    for col in (*NUMERIC, *EXPORT_COLUMNS):
        df[col] = pd.to_numeric(df[col], errors="coerce") if col in df else np.nan
    if "export_status" not in df:
        df["export_status"] = None
    sweeps = [_sweep_dir(r) for r in runs]
    df["sweep"] = [s.as_posix() for s in sweeps]
    df["started_at"] = [
        r["started_at"] if isinstance(r.get("started_at"), str) else "" for r in runs
    ]
    known_start = df["started_at"].where(df["started_at"] != "")
    first_start = known_start.groupby(df["sweep"]).transform("min").fillna("")
    df["launched"] = [_dir_time(s) or t for s, t in zip(sweeps, first_start, strict=True)]
    df["path"] = [_relative(r["run_dir"], path) for r in runs]
    df = df.sort_values(
        ["launched", "sweep", "job_num", "started_at", "path"], na_position="last", kind="stable"
    ).reset_index(drop=True)
    df.insert(0, "run", range(1, len(df) + 1))
    df["key_changes"] = key_changes(df["overrides"])
    df["pareto"] = pareto_front(df)
    return df


def recipe_key(overrides: Any) -> tuple[str, ...]:
    """A run's overrides without its seed, sorted: runs with equal keys repeat one recipe with
    other seeds (unknown overrides: the empty key)."""
    known = overrides if isinstance(overrides, list) else []
    return tuple(sorted(o for o in known if not SEED_OVERRIDE.match(o)))


def seed_groups(df: pd.DataFrame) -> pd.DataFrame:
    """Finished runs that differ only in ``trainer.seed``, two or more to a group: mean ± std."""
    done = df[df["level"].isin(FINISHED) & df["test_acc"].notna()]
    seeded = done["overrides"].map(
        lambda o: isinstance(o, list) and any(map(SEED_OVERRIDE.match, o))
    )
    if not seeded.any():  # no run sets its seed: no groups (quick for large sweeps)
        return pd.DataFrame()
    rows = []
    for _, group in done.groupby(done["overrides"].map(recipe_key), sort=False):
        if len(group) < 2:
            continue
        changes = [c for c in group["key_changes"].iloc[0] or [] if not SEED_OVERRIDE.match(c)]
        rows.append(
            {
                "changes": changes,
                "n": len(group),
                "runs": group["run"].tolist(),
                "seeds": group["seed"].dropna().astype(int).tolist(),
                "params": group["params"].iloc[0],
                "mean_acc": group["test_acc"].mean(),
                "std_acc": group["test_acc"].std(ddof=1),
                "mean_best": group["best_test_acc"].mean(),
            }
        )
    return pd.DataFrame(rows)
