"""The width search under one CPU budget, without and with each pruner.

    .venv/bin/python -m benchmarks.search_benchmark --minutes 5
    .venv/bin/python -m benchmarks.search_benchmark --minutes 20 --pruners none median --docs

Each pruner gets the same wall-clock budget for one ``hparams_search=widths`` study of its own
(one job at a time, ``device.threads=1``; a smaller training slice than the preset's, so that
many trials fit), then Ctrl-C. Measured from the study and the process: trials that finished
(completed or pruned) per CPU-hour of the search process and its jobs, the best validation
accuracy at each quarter of the budget, and the share of the wall time a job was training (the
slot's busy share). Writes ``benchmarks/results/<stamp>-search/search.{json,md}``; ``--docs``
puts the table between the search-benchmark markers in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import optuna
from optuna.trial import TrialState

from benchmarks.markers import publish
from benchmarks.timed import run_for
from mnist_sweep import artifacts
from mnist_sweep.formats import num, pct
from mnist_sweep.machine import cpu_name

REPO = Path(__file__).resolve().parents[1]
START, END = "<!-- search-benchmark:start -->", "<!-- search-benchmark:end -->"


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_search(pruner: str, seconds: float, extra: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        command = [
            sys.executable, "-m", "mnist_sweep", "-m", "hparams_search=widths",
            f"hydra/sweeper/pruner={pruner}", "hydra.sweeper.n_trials=100000",
            "device.threads=1", *extra,
        ]  # fmt: skip
        cpu0, start = cpu_seconds(), time.time()
        run_for(command, Path(tmp), seconds, subprocess.DEVNULL)
        wall, cpu = time.time() - start, cpu_seconds() - cpu0
        study = optuna.load_study(study_name="widths", storage=f"sqlite:///{tmp}/studies/widths.db")
        trials = study.trials
    trained = [t for t in trials if t.intermediate_values or t.state == TrialState.COMPLETE]
    done = [t for t in trained if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    complete = [t for t in done if t.state == TrialState.COMPLETE]
    busy = sum(
        (t.datetime_complete - t.datetime_start).total_seconds()
        for t in trained
        if t.datetime_start and t.datetime_complete
    )
    best_at = {}
    for quarter in (1, 2, 3, 4):
        limit = start + seconds * quarter / 4
        values = [t.value for t in complete if t.datetime_complete.timestamp() <= limit]
        best_at[f"{25 * quarter}%"] = max(values) if values else None
    return {
        "pruner": pruner,
        "wall_seconds": round(wall, 1),
        "cpu_seconds": round(cpu, 1),
        "completed": len(complete),
        "pruned": len(done) - len(complete),
        "per_cpu_hour": round(3600 * len(done) / cpu, 1),
        "epochs_trained": sum(len(t.intermediate_values) for t in done),
        "best_val_at": best_at,
        "busy_share": round(busy / wall, 3),
    }


def markdown(result: dict) -> str:
    rows = result["rows"]
    base = rows[0]["per_cpu_hour"] if rows and rows[0]["pruner"] == "none" else None
    on = f" on {result['cpu']}" if "cpu" in result else ""  # earlier results record no CPU
    lines = [
        f"Measured {result['stamp']}{on}: {result['minutes']} minutes of wall time per pruner, one "
        f"job at a time, 1 thread, `{' '.join(result['set'])}`.",
        "",
        "| pruner | finished (completed + pruned) | per CPU-hour | × none | best val at 25 / 50 / "
        "75 / 100 % of the budget | slot busy |",
        "|---|---:|---:|---:|---|---:|",
    ]
    for r in rows:
        best = " / ".join(pct(v, unit="") for v in r["best_val_at"].values())
        ratio = f"{r['per_cpu_hour'] / base:.2f}" if base else "—"
        lines.append(
            f"| {r['pruner']} | {r['completed']} + {r['pruned']} | {num(r['per_cpu_hour'])} | "
            f"{ratio} | {best} | {pct(r['busy_share'], 0, unit=' %')} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--pruners", nargs="+", default=["none", "median", "asha", "hyperband"])
    parser.add_argument(
        "--set",
        nargs="*",
        default=["data.train_subset=10000", "trainer.epochs=4"],
        help="overrides for every search (default: a 10,000-image slice, 4 epochs)",
    )
    parser.add_argument(
        "--docs", action="store_true", help="write the table into docs/benchmarks.md"
    )
    args = parser.parse_args()
    stamp = datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    rows = [run_search(p, 60 * args.minutes, args.set) for p in args.pruners]
    cpu = f"{cpu_name()} ({os.cpu_count()} cores)"
    result = {"stamp": stamp, "cpu": cpu, "minutes": args.minutes, "set": args.set, "rows": rows}
    out = REPO / "benchmarks" / "results" / f"{stamp}-search"
    out.mkdir(parents=True, exist_ok=True)
    artifacts.write_json(out / "search.json", result)
    publish(markdown(result), out / "search.md", START, END, args.docs)


if __name__ == "__main__":
    main()
