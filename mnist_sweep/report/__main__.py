"""``python -m mnist_sweep.report PATH``: rebuild the leaderboard of every run at or below PATH.

PATH is a run directory, a sweep directory or a parent such as ``multirun/``. Runs without a
current ``report.html`` get one. Exits 2 with one line on stderr when PATH holds no runs.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from mnist_sweep.report import LEADERBOARD, LEADERBOARD_CSV, NoRunsError, write_leaderboard


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mnist_sweep.report",
        description=f"Write {LEADERBOARD} and {LEADERBOARD_CSV} into PATH, comparing every run "
        "at or below it, and report.html into each run that lacks a current one.",
    )
    parser.add_argument("path", type=Path, help="a run or sweep directory, or e.g. multirun/")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    try:
        page = write_leaderboard(args.path)
    except (NoRunsError, OSError) as exc:  # no runs, or a folder that cannot be written
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {page} and {page.with_name(LEADERBOARD_CSV)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
