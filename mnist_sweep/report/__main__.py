"""``python -m mnist_sweep.report PATH|URL``: rebuild a leaderboard, or build a study's view.

PATH is a run directory, a sweep directory or a parent such as ``multirun/``: ``leaderboard.html``
and ``.csv`` go into it. URL is an Optuna storage (``sqlite:///studies/widths.db``):
``<study>.html`` and ``.csv`` go beside the SQLite file (or into ``--out``), from the study and the
run folders its trials point to. Runs without a current ``report.html`` get one (in parallel) unless
``--no-run-reports``. Exits 2 with one line on stderr for a path without runs, a storage that
cannot be opened or a study it does not hold.

``python -m mnist_sweep.report front RUN_DIR [RUN_DIR …]``: the confirmed size–accuracy front of
confirmation runs (``report/front.py``), ``front.html`` and ``front.md``, the table also printed.
Exits 2 with one line on stderr for a folder without runs, a bound that is not a whole number above
0 or a seed minimum below 1.
"""

from __future__ import annotations

import argparse
import gc
import logging
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from mnist_sweep.artifacts import LEADERBOARD, LEADERBOARD_CSV
from mnist_sweep.errors import UserError
from mnist_sweep.report import (
    NoRunsError,
    StudyError,
    write_leaderboard,
    write_study_page,
)
from mnist_sweep.report.front import (
    DEFAULT_BOUNDS,
    DEFAULT_MIN_SEEDS,
    FRONT_TABLE,
    front_runs,
    parse_bounds,
    whole_number,
    write_front,
)

FRONT = "front"  # the first argument that names the front command, not a folder


def front_main(argv: Sequence[str]) -> int:
    """``python -m mnist_sweep.report front RUN_DIR …``: write and print the confirmed front."""
    parser = argparse.ArgumentParser(
        prog=f"python -m mnist_sweep.report {FRONT}",
        description="Write front.html and front.md: the best confirmed model under each "
        "parameter bound, from confirmation runs (python -m mnist_sweep.confirm), with "
        "held-out test accuracy mean ± std over seeds and the worst seed; print the table.",
    )
    parser.add_argument(
        "run_dirs",
        nargs="+",
        type=Path,
        metavar="RUN_DIR",
        help="run or sweep folders of confirmation runs, e.g. multirun/2026-01-02/03-04-05-000001",
    )
    parser.add_argument(
        "--bounds",
        nargs="+",
        default=list(DEFAULT_BOUNDS),
        metavar="N",
        help=f"parameter bounds ({' '.join(map(str, DEFAULT_BOUNDS))})",
    )
    parser.add_argument(
        "--min-seeds",
        default=DEFAULT_MIN_SEEDS,
        metavar="N",
        help=f"seeds a recipe needs to count ({DEFAULT_MIN_SEEDS})",
    )
    parser.add_argument(
        "--out", type=Path, help="folder for the pages (default: the folder holding every RUN_DIR)"
    )
    parser.add_argument(
        "--export",
        action="store_true",
        help="first export the runs of the recipes the front shows to ONNX fp32 and int8, "
        "checked (python -m mnist_sweep.export; needs the [export] extra); the front then shows "
        "their int8 accuracy and size",
    )
    args = parser.parse_args(argv)
    exported = 0
    try:
        bounds = parse_bounds(args.bounds)
        min_seeds = whole_number("--min-seeds", args.min_seeds, 1)
        if args.export:  # its own process: the report imports no training module
            runs = front_runs(args.run_dirs, bounds, min_seeds)
            command = [sys.executable, "-m", "mnist_sweep.export", *map(str, runs)]
            exported = subprocess.run(command).returncode if runs else 0
            if exported not in (0, 1):  # the export said why, in one line
                return 2
        page, table = write_front(args.run_dirs, bounds, min_seeds, args.out)
    except (UserError, OSError) as exc:  # no runs, a bad bound, an unwritable folder
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(table)
    print(f"wrote {page} and {page.with_name(FRONT_TABLE)}")
    return exported


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == [FRONT]:
        return front_main(argv[1:])
    parser = argparse.ArgumentParser(
        prog="python -m mnist_sweep.report",
        description=f"Write {LEADERBOARD} and {LEADERBOARD_CSV} into PATH, comparing every run "
        "at or below it, or the study view of an Optuna storage URL; and report.html into each "
        "run that lacks a current one.",
        epilog=f"{FRONT} RUN_DIR [RUN_DIR ...]: the confirmed size-accuracy front of "
        f"confirmation runs (see '{FRONT} --help').",
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
    status = main()
    gc.freeze()  # a quick shutdown, as in mnist_sweep/__main__.py
    sys.exit(status)
