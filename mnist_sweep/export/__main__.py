"""``python -m mnist_sweep.export RUN_DIR [RUN_DIR …]``: export each run (or every completed run
of a sweep folder) to ``model.onnx`` and ``model.int8.onnx``, checked, with ``export.json``.

Every folder is checked before the first export: a folder without ``model.pt``, an unfinished
run (without ``--last-checkpoint``) or a folder that cannot be written gets one line (``error: …``
on stderr) and exit status 2, and nothing is written. A model that does not export stops the
command the same way, leaving none of its own files. An export whose check fails is written with
``status: problem``, named in one line, exit status 1. Each exported run's report.html, and the
leaderboard of its sweep, are rebuilt to show the int8 figures.
"""

from __future__ import annotations

import argparse
import gc
import sys
from pathlib import Path

from mnist_sweep import artifacts, export
from mnist_sweep.errors import UserError
from mnist_sweep.export import Options
from mnist_sweep.formats import pct, size


def positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return value


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m mnist_sweep.export",
        description=f"Write {artifacts.ONNX} (fp32) and {artifacts.ONNX_INT8} (static int8, "
        f"calibrated on training images) beside each run's {artifacts.CHECKPOINT}, check both "
        "on the 10,000 test images with onnxruntime, and record accuracy, agreement with "
        f"PyTorch, size and latency in {artifacts.EXPORT}.",
    )
    p.add_argument(
        "paths", nargs="+", type=Path, metavar="RUN_DIR", help="run folders or sweep folders"
    )
    p.add_argument(
        "--last-checkpoint",
        action="store_true",
        help="also export a run that did not complete (interrupted, pruned, failed) from the "
        "checkpoint of its last finished epoch",
    )
    p.add_argument("--threads", type=positive, default=1, help="onnxruntime threads (1)")
    p.add_argument(
        "--repeats",
        type=positive,
        default=50,
        help="timed calls of one image for the latency "
        "(50; a tenth as many, at least 3, of a batch of 1,000)",
    )
    p.add_argument("--data-root", help="the MNIST folder (default: the run's data.root)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    options = Options(args.last_checkpoint, args.repeats, args.threads, args.data_root)
    return export_all(args.paths, options)


def export_all(paths: list[Path], options: Options) -> int:
    """Export every run ``paths`` name, one line each, and rebuild the pages that show them
    (each run's report.html, the leaderboard of a folder that has one); the exit status: 0, 1
    when an export's check failed, 2 (one ``error:`` line) when a folder cannot be exported or
    the ``[export]`` extra is missing."""
    if line := export.missing_extra():
        print(f"error: {line}", file=sys.stderr)
        return 2
    try:
        runs = []
        for path in paths:
            found, skipped = export.runs_below(path)
            for line in skipped:
                print(line, file=sys.stderr)
            runs += found
        for run in runs:  # every refusal before the first file is written
            export.check_run(run, options)
        failed = 0
        for run in runs:
            report = export.export_run(run, options)
            print(summary(run, report))
            if report["problems"]:
                failed += 1
                print(f"problem: {run}: {'; '.join(report['problems'])}", file=sys.stderr)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from mnist_sweep.report import run_ended, write_leaderboard  # the pages gain the int8 figures

    for run in runs:
        run_ended(run)
    boards = dict.fromkeys([*paths, *(run.parent for run in runs)])
    for folder in boards:
        if (folder / artifacts.LEADERBOARD).is_file():
            write_leaderboard(folder, run_reports=False)
    return 1 if failed else 0


def summary(run: Path, report: dict) -> str:
    """One line per exported run: each file's size, accuracy and latencies."""
    parts = []
    for name, f in report["files"].items():
        parts.append(
            f"{name} {size(f['bytes'])}, {pct(f['accuracy'])}, agrees on "
            f"{report['test_images'] - f['disagreements']:,}/{report['test_images']:,}, "
            f"{f['latency_ms_1']:.3f} ms/image, {f['latency_ms_1000']:.1f} ms/1,000"
        )
    torch_acc = pct(report["pytorch"]["accuracy"])
    return f"exported {run} (PyTorch {torch_acc}): " + "; ".join(parts)


if __name__ == "__main__":
    status = main()
    gc.freeze()  # a quick shutdown, as in mnist_sweep/__main__.py
    sys.exit(status)
