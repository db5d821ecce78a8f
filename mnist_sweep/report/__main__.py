"""``python -m mnist_sweep.report PATH|URL``: rebuild a leaderboard, or build a study's view.

PATH is a run directory, a sweep directory or a parent such as ``multirun/``: ``leaderboard.html``
and ``.csv`` go into it. URL is an Optuna storage (``sqlite:///studies/widths.db``):
``<study>.html`` and ``.csv`` go beside the SQLite file (or into ``--out``), from the study and the
run folders its trials point to. Runs without a current ``report.html`` get one (in parallel) unless
``--no-run-reports``. Exits 2 with one line on stderr for a path without runs, a storage that
cannot be opened or a study it does not hold.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from mnist_sweep.report import (
    LEADERBOARD,
    LEADERBOARD_CSV,
    NoRunsError,
    StudyError,
    write_leaderboard,
    write_study_page,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mnist_sweep.report",
        description=f"Write {LEADERBOARD} and {LEADERBOARD_CSV} into PATH, comparing every run "
        "at or below it, or the study view of an Optuna storage URL; and report.html into each "
        "run that lacks a current one.",
    )
    parser.add_argument(
        "source",
        metavar="PATH|URL",
        help="a run or sweep directory (e.g. multirun/), or an Optuna storage URL such as "
        "sqlite:///studies/widths.db",
    )
    parser.add_argument("--study", help="the study to show, when the storage holds several")
    parser.add_argument(
        "--out", type=Path, help="folder for a study's page (default: beside the SQLite file)"
    )
    parser.add_argument(
        "--no-run-reports",
        dest="run_reports",
        action="store_false",
        help="do not build the report.html of runs that lack a current one",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    is_url = "://" in args.source
    if not is_url and (args.study or args.out):
        print(
            f"error: --study and --out apply to a storage URL, not to the folder {args.source}; "
            "give a URL such as sqlite:///studies/widths.db.",
            file=sys.stderr,
        )
        return 2
    try:
        if is_url:
            page = write_study_page(args.source, args.study, args.out, run_reports=args.run_reports)
        else:
            page = write_leaderboard(Path(args.source), run_reports=args.run_reports)
    except (NoRunsError, StudyError, OSError) as exc:  # no runs, bad storage, unwritable folder
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {page} and {page.with_suffix('.csv')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
