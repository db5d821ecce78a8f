"""The architecture search under one wall-clock budget per arm: as configured (median pruner,
every trial the full schedule) against successive halving over epochs.

    .venv/bin/python -m benchmarks.fidelity_arms --minutes 4 --out benchmarks/results/NAME

Each arm gets a study of its own (``hparams_search=arch``, ``budget.max_params``, one job at a
time, ``device.threads=1``, a training slice so that trials fit the budget), then Ctrl-C. From the
study: trials started, trials finished (completed or pruned) per hour, the best validation
accuracy at each quarter of the budget, and for the halving arm the trials each rung holds.
Writes ``arms.json`` and ``arms.md`` (with the commands) into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
import time
from pathlib import Path

import optuna
from optuna.trial import TrialState

from benchmarks.timed import run_for
from mnist_sweep import engine, trial_attrs

# name: (what the tables call it, the overrides that make the arm)
ARMS = {
    "median": ("as configured (median pruner)", []),
    "halving": (
        "halving, rungs [2,4,8], factor 3",
        [
            "hydra/sweeper/pruner=none",
            "hydra/sweeper/fidelity=halving",
            "hydra.sweeper.fidelity.rungs=[2,4,8]",
        ],
    ),
}


def run_arm(extra: list[str], seconds: float, common: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/arch.db"
        command = [
            sys.executable, "-m", "mnist_sweep", "-m", "hparams_search=arch",
            "hydra.sweeper.n_trials=100000", f"hydra.sweeper.storage={url}",
            f"hydra.sweep.dir={tmp}/sweep", *common, *extra,
        ]  # fmt: skip
        start = time.time()
        with (Path(tmp) / "arm.log").open("w") as out:
            run_for(command, Path(tmp), seconds, out)
        trials = optuna.load_study(study_name="arch", storage=url).trials
    trained = [t for t in trials if not trial_attrs.was_refused(t)]
    finished = [t for t in trained if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    best = []
    for quarter in (1, 2, 3, 4):
        until = start + seconds * quarter / 4
        values = [
            t.value
            for t in trained
            if t.state == TrialState.COMPLETE and t.datetime_complete.timestamp() <= until
        ]
        best.append(max(values) if values else None)
    rungs: dict[int, int] = {}
    for t in finished:
        if (rung := trial_attrs.rung(t)) is not None:
            rungs[rung] = rungs.get(rung, 0) + 1
    return {
        "command": shlex.join(["python", *command[1:]]).replace(tmp, "TMP"),
        "trials started": len(trained),
        "trials finished": len(finished),
        "finished per hour": len(finished) * 3600 / seconds,
        "best val_acc by quarter": best,
        "finished per rung": rungs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=4.0)
    parser.add_argument("--max-params", type=int, default=8000)
    parser.add_argument("--train-subset", type=int, default=8192)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    common = [
        f"budget.max_params={args.max_params}",
        f"data.train_subset={args.train_subset}",
        "device=cpu",
        "device.threads=1",
    ]
    args.out.mkdir(parents=True, exist_ok=True)
    results = {}
    for name, extra in ARMS.values():
        results[name] = run_arm(extra, args.minutes * 60, common)
        print(name, json.dumps(results[name]), flush=True)
    (args.out / "arms.json").write_text(json.dumps(results, indent=2))
    lines = [
        f"CPU: {engine.cpu_name()}, 1 thread per job, one job at a time; {args.minutes:g} "
        f"minutes per arm; `hparams_search=arch` under {args.max_params:,} parameters on "
        f"{args.train_subset:,} training images, 10,000 validation images.",
        "",
        "| arm | trials started | finished | finished per hour | best val accuracy at "
        "1/4, 1/2, 3/4, 4/4 of the budget | finished per rung |",
        "|---|---:|---:|---:|---|---|",
    ]
    for name, r in results.items():
        best = ", ".join(
            "—" if b is None else f"{100 * b:.2f}" for b in r["best val_acc by quarter"]
        )
        lines.append(
            f"| {name} | {r['trials started']} | {r['trials finished']} | "
            f"{r['finished per hour']:.0f} | {best} | {r['finished per rung'] or '—'} |"
        )
    invocation = ["python", "-m", "benchmarks.fidelity_arms", *sys.argv[1:]]
    lines += ["", f"Benchmark: `{shlex.join(invocation)}`"]
    lines += ["", "Commands (each run for the budget, then Ctrl-C):", ""]
    lines += [f"    {r['command']}" for r in results.values()]
    (args.out / "arms.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
