"""Wall time from an empty study to a confirmed model under a parameter budget.

    .venv/bin/python -m benchmarks.time_to_confirmed --budget 8000 --minutes 60 --docs
    .venv/bin/python -m benchmarks.time_to_confirmed --searches arch:5000 arch:20000 \
        --seeds 1000 1001 1002 1003 1004 --confirm-set trainer.epochs=20

Each search, ``PRESET[:BUDGET][+ARM]`` (default: ``hparams_search=arch`` and the plain
``hparams_search=widths`` under ``--budget``; an arm of ``benchmarks.fidelity_arms``, e.g.
``arch:8000+median arch:8000+halving``), starts from an empty study of its own and runs side
by side with the others, one job at a time on one thread each (so two searches on 2 cores get
one core each). After ``--search-minutes`` its search is stopped with Ctrl-C, and its best
completed trials (each point once; under halving, the highest rung's first) are confirmed one at
a time, best first, with
``python -m mnist_sweep.confirm --trials N --seeds 1000 1001 1002``: all 60,000 training images,
seeds the search never used, final-epoch test accuracy. The clock stops at the first trial whose
every seed reaches ``--target`` (99.4 %), or at ``--minutes``. Writes
``benchmarks/results/<stamp>-confirmed/confirmed.{json,md}`` and a copy of each study
(``<preset>_<budget>.db``, readable with ``python -m mnist_sweep.report sqlite:///…``); the run
folders stay under ``runs/`` there (not committed). ``--docs`` puts the table between the
time-to-confirmed markers in docs/benchmarks.md; ``--render DIR`` re-renders an earlier result.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import optuna
from optuna.trial import TrialState

from benchmarks.fidelity_arms import ARMS
from benchmarks.markers import publish
from benchmarks.timed import run_for
from mnist_sweep import artifacts, trial_attrs
from mnist_sweep.formats import pct
from mnist_sweep.machine import cpu_name

REPO = Path(__file__).resolve().parents[1]
START, END = "<!-- time-to-confirmed:start -->", "<!-- time-to-confirmed:end -->"


def study_counts(study: optuna.Study) -> dict:
    trials = study.trials
    refused = [t for t in trials if trial_attrs.was_refused(t)]
    pruned = [t for t in trials if t.state == TrialState.PRUNED and not trial_attrs.was_refused(t)]
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    return {
        "asked": len(trials),
        "refused": len(refused),
        "pruned": len(pruned),
        "completed": len(complete),
        "best_val": max((t.value for t in complete), default=None),
    }


def run_one(spec: str, args: argparse.Namespace, root: Path, t0: float, result: dict) -> None:
    """One search from an empty study, then its confirmations; fills ``result`` as it goes."""
    spec, _, arm = spec.partition("+")
    preset, _, budget = spec.partition(":")
    budget = int(budget or args.budget)
    search = f"{preset}_{budget}" + (f"_{arm}" if arm else "")
    work = root / "runs" / search
    (work / "studies").mkdir(parents=True)
    log = work / "log.txt"
    url = f"sqlite:///{work / 'studies' / search}.db"
    command = [
        sys.executable, "-m", "mnist_sweep", "-m", f"hparams_search={preset}",
        f"budget.max_params={budget}", "hydra.sweeper.n_trials=100000",
        f"hydra.sweeper.study_name={search}", f"hydra.sweeper.storage={url}",
        "device.threads=1", *args.set, *(ARMS[arm][1] if arm else []),
    ]  # fmt: skip
    result.update(
        search=search, preset=preset, arm=arm, budget=budget, command=command, confirmed=[],
        minutes_to_confirmed=None,
    )  # fmt: skip
    with log.open("a") as out:
        run_for(command, work, 60 * args.search_minutes, out)
    result["search_minutes"] = round((time.time() - t0) / 60, 2)
    study = optuna.load_study(study_name=search, storage=url)
    result.update(study_counts(study))
    done = [t for t in study.trials if t.state == TrialState.COMPLETE]
    distinct = {}  # TPE may propose the same point twice: confirm each point once
    # best first; under successive halving, trials of the highest rung (the longest training)
    for trial in sorted(done, key=lambda t: (trial_attrs.rung(t) or 0, t.value), reverse=True):
        distinct.setdefault(tuple(sorted(trial.params.items())), trial)
    candidates = list(distinct.values())[: args.top]
    target = args.target
    for trial in candidates:
        left = 60 * args.minutes - (time.time() - t0)
        if left <= 0:
            break
        confirm = [
            sys.executable, "-m", "mnist_sweep.confirm", url, "--trials", str(trial.number),
            "--seeds", *map(str, args.seeds), "--out", str(work / "multirun"),
            "--set", "device.threads=1", *args.confirm_set,
        ]  # fmt: skip
        with log.open("a") as out:
            run_for(confirm, work, left, out)
        attrs = optuna.load_study(study_name=search, storage=url).user_attrs
        summary = trial_attrs.latest_confirmation(attrs, trial.number)  # this run's: the latest
        if summary is None:  # stopped by the time limit
            break
        passed = all(a is not None and a >= target for a in summary["test_acc"])
        minutes = round((time.time() - t0) / 60, 2)
        result["confirmed"].append(summary | {"minutes": minutes})
        if passed:
            result["minutes_to_confirmed"] = minutes
            break
    shutil.copy(work / "studies" / f"{search}.db", root / f"{search}.db")


def markdown(result: dict) -> str:
    seeds = ", ".join(map(str, result["seeds"]))
    lines = [
        f"Measured {result['stamp']} on {result['cpu']}: target "
        f"{pct(result['target'], unit='')} % on "
        f"every seed of {seeds}; the searches ran side by side, one thread each, "
        f"{result['search_minutes']} minutes, then confirmed their best trials one by one within "
        f"{result['minutes']} minutes in all (confirmation overrides: "
        f"`{' '.join(result['confirm_set']) or 'none'}`).",
        "",
        "| search | budget | asked | refused | pruned | completed | best val | confirmed trials "
        "(params: test accuracy per seed) | minutes to a confirmed model |",
        "|---|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for r in result["rows"]:
        confirmed = "; ".join(
            f"#{c['trial']} ({c['params']:,}): {' / '.join(pct(a, unit='') for a in c['test_acc'])}"
            for c in r["confirmed"]
        )
        reached = r["minutes_to_confirmed"]
        budget = r.get("budget", result.get("budget"))  # one budget for all in earlier results
        arm = f" + {ARMS[r['arm']][0]}" if r.get("arm") else ""
        lines.append(
            f"| `{r.get('preset', r['search'])}`{arm} | {budget:,} | {r['asked']} | "
            f"{r['refused']} | {r['pruned']} | {r['completed']} | {pct(r['best_val'], unit='')} | "
            f"{confirmed or '—'} | "
            f"{'not reached' if reached is None else reached} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--budget", type=int, default=8000, help="budget.max_params of searches without :BUDGET"
    )
    parser.add_argument("--minutes", type=float, default=60.0, help="the whole time limit")
    parser.add_argument("--search-minutes", type=float, default=40.0, help="searching, of that")
    parser.add_argument("--searches", nargs="+", default=["arch", "widths"])
    parser.add_argument("--top", type=int, default=3, help="best trials confirmed at most")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1000, 1001, 1002])
    parser.add_argument("--target", type=float, default=0.994)
    parser.add_argument("--set", nargs="*", default=[], help="overrides for every search")
    parser.add_argument(
        "--confirm-set",
        nargs="*",
        default=["trainer.epochs=12"],
        help="overrides for every confirmation run (default: 12 epochs for every search)",
    )
    parser.add_argument(
        "--docs", action="store_true", help="write the table into docs/benchmarks.md"
    )
    parser.add_argument("--render", type=Path, metavar="RESULT_DIR", help="run nothing: re-render")
    args = parser.parse_args()
    unknown = [s for s in args.searches if s.partition("+")[2] not in ("", *ARMS)]
    if unknown:
        parser.error(f"unknown arm in {unknown[0]!r}; arms: {', '.join(ARMS)}")
    if args.render:
        finish(json.loads((args.render / "confirmed.json").read_text()), args.render, args.docs)
        return
    stamp = datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    root = REPO / "benchmarks" / "results" / f"{stamp}-confirmed"
    rows: list[dict] = [{} for _ in args.searches]
    t0 = time.time()
    threads = [
        threading.Thread(target=run_one, args=(s, args, root, t0, row))
        for s, row in zip(args.searches, rows, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result = {
        "stamp": stamp,
        "cpu": f"{cpu_name()} ({os.cpu_count()} cores)",
        "target": args.target,
        "seeds": args.seeds,
        "minutes": args.minutes,
        "search_minutes": args.search_minutes,
        "confirm_set": args.confirm_set,
        "rows": rows,
    }
    # paths in the repository are kept relative to it, so the result reads the same anywhere
    result = json.loads(json.dumps(result).replace(f"{REPO}/", ""))
    artifacts.write_json(root / "confirmed.json", result)
    finish(result, root, args.docs)


def finish(result: dict, root: Path, docs: bool) -> None:
    """Write the result's table into ``root`` (and docs/benchmarks.md with ``docs``)."""
    publish(markdown(result), root / "confirmed.md", START, END, docs)


if __name__ == "__main__":
    main()
