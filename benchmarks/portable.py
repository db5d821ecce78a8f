"""Make a study committed under ``benchmarks/results/`` name its run folders relative to the
repository root, as a fresh clone sees them, instead of by this machine's absolute path.

    .venv/bin/python -m benchmarks.portable benchmarks/results/<folder>/<study>.db

Rewrites the run and sweep folders the search and ``python -m mnist_sweep.confirm`` stored in the
study's trial and study attributes (Optuna keeps them as JSON text in its SQLite tables). Run it
once every process writing the study has ended.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TABLES = ("trial_user_attributes", "trial_system_attributes", "study_user_attributes")


def portable(db: Path, root: Path = REPO) -> int:
    """Rewrite ``root``-absolute paths in ``db``'s attribute JSON as relative ones; how many
    attribute values changed."""
    prefix = json.dumps(f"{root}/")[1:-1]  # as the path is spelt inside JSON text
    changed = 0
    with sqlite3.connect(db) as con:
        for table in TABLES:
            cur = con.execute(
                f"UPDATE {table} SET value_json = replace(value_json, ?, '') "
                "WHERE instr(value_json, ?) > 0",
                (prefix, prefix),
            )
            changed += cur.rowcount
    return changed


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("db", type=Path, nargs="+", help="a study's SQLite file")
    for db in p.parse_args().db:
        print(f"{db}: {portable(db)} attribute values made relative to the repository root")


if __name__ == "__main__":
    main()
