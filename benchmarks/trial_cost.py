"""Where a search trial's wall time goes: the fixed cost of a 1-epoch trial, phase by phase.

    .venv/bin/python -m benchmarks.trial_cost [--repeats 5] [--sweep-trials 12]
        [--board-runs 1000]

Part one times each phase of a trial of the width search (``hparams_search=widths``: 2,048
training images, 10,000 validation images, one epoch, one thread) in this process, ``--repeats``
times, and prints the medians as a Markdown table: job start (a fresh interpreter importing the
job's modules), config compose, data load (first and later trials of a process), model build,
training, validation, test, artifacts, run report and study storage (ask, the epoch's
intermediate value and the tell on a SQLite study). Part two runs the width search itself with
``--sweep-trials`` such trials and reports its wall time per trial, its training time per trial
and the rest: the fixed cost of a trial as a user meets it. Part three times a job end's live
leaderboard rewrite at ``--board-runs`` synthetic runs (``tests/helpers/synthetic.py``). The CPU
and torch's CPU capability head the output.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import torch

from mnist_sweep import artifacts, data, engine, machine, models, report, trial_attrs
from mnist_sweep.augment import Augment
from mnist_sweep.config import validate
from mnist_sweep.confirm import compose_run

SEARCH = ["hparams_search=widths", "device=cpu", "device.threads=1", "trainer.epochs=1"]


def timed(work: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = work()
    return time.perf_counter() - start, out


def job_start() -> float:
    """Seconds for a fresh interpreter to import what a job imports."""
    code = "import mnist_sweep.__main__"
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - start


def one_trial(overrides: list[str], work: Path, number: int) -> dict[str, float]:
    """Seconds of each phase of one trial, done as ``run.execute`` does them."""
    times: dict[str, float] = {}
    times["config compose"], (cfg, _) = timed(lambda: compose_run(overrides))
    plain = validate(cfg)
    times["data load"], splits = timed(lambda: data.load_configured(plain["data"]))
    torch.set_num_threads(plain["device"]["threads"])
    times["model build"], model = timed(
        lambda: models.build(plain["model"], allowed=plain["allowed_targets"])
    )
    trainer, dev = plain["trainer"], plain["device"]
    # the precision a run of this config trains at (device.precision=auto resolved as run.py does)
    precision, _ = machine.choose_precision(
        dev["precision"], torch.device("cpu"), model, trainer["batch_size"]
    )
    # fit tests after its last epoch: one image here, the phases below time the full passes
    train_only = data.Splits(splits.train_x, splits.train_y, splits.test_x[:1], splits.test_y[:1])
    history = engine.fit(
        model,
        train_only,
        optim_cfg=plain["optim"],
        sched_cfg=plain["sched"],
        augment=Augment(plain.get("aug"), -plain["data"]["mean"] / plain["data"]["std"]),
        epochs=trainer["epochs"],
        batch_size=trainer["batch_size"],
        label_smoothing=trainer["label_smoothing"],
        grad_clip=trainer["grad_clip"],
        precision=precision,
        channels_last=dev["channels_last"],
        seed=trainer["seed"],
        test_every=0,
    )
    times["training"] = history.train_seconds
    times["validation"], _ = timed(
        lambda: engine.evaluate(model, splits.val_x, splits.val_y, precision)
    )
    times["test"], test = timed(
        lambda: engine.evaluate(model, splits.test_x, splits.test_y, precision)
    )
    run_dir = work / f"run{number}"
    run_dir.mkdir()

    def save() -> None:
        artifacts.write_history(run_dir / artifacts.HISTORY, history.rows)
        models.save(run_dir / artifacts.CHECKPOINT, model, plain["model"])
        raw = ((splits.test_x * plain["data"]["std"] + plain["data"]["mean"]) * 255).round()
        artifacts.save_predictions(
            run_dir / artifacts.PREDICTIONS,
            test.pred,
            splits.test_y,
            raw.clamp(0, 255).to(torch.uint8).squeeze(1),
        )
        (run_dir / artifacts.METRICS).write_text(json.dumps({"status": "completed"}))

    times["artifacts"], _ = timed(save)
    times["run report"], _ = timed(lambda: report.write_run_report(run_dir))

    def storage() -> None:
        url = f"sqlite:///{work}/study.db"
        study = optuna.create_study(study_name="cost", storage=url, load_if_exists=True)
        trial = study.ask({"w": optuna.distributions.IntDistribution(4, 16)})
        trial_attrs.set_params(trial, 1)
        trial.report(0.5, 1)
        study.tell(trial, 0.5)

    times["study storage"], _ = timed(storage)
    return times


def phases(repeats: int, overrides: list[str]) -> list[tuple[str, float, float]]:
    """(phase, median seconds of the first trial of a process, of a later trial)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        runs = [one_trial(overrides, Path(tmp), i) for i in range(repeats + 1)]
    first, later = runs[0], runs[1:]
    table = [("job start (fresh interpreter, imports)", job_start(), 0.0)]
    for phase in first:
        table.append((phase, first[phase], statistics.median(r[phase] for r in later)))
    return table


def sweep(trials: int, overrides: list[str]) -> dict[str, float]:
    """Wall time of the width search with ``trials`` 1-epoch trials, and its training time."""
    with tempfile.TemporaryDirectory() as tmp:
        command = [
            sys.executable,
            "-m",
            "mnist_sweep",
            "-m",
            *overrides,
            f"hydra.sweeper.n_trials={trials}",
            f"hydra.sweep.dir={tmp}/sweep",
            f"hydra.sweeper.storage=sqlite:///{tmp}/widths.db",
        ]
        wall, done = timed(lambda: subprocess.run(command, cwd=tmp, capture_output=True))
        if done.returncode:
            raise SystemExit(done.stderr.decode()[-2000:])
        records = [json.loads(p.read_text()) for p in Path(tmp).glob("sweep/*/metrics.json")]
    train = sum(r.get("train_seconds") or 0 for r in records)
    jobs = sum(r.get("wall_seconds") or 0 for r in records)
    n = len(records)
    return {
        "trials": n,
        "wall": wall,
        "per trial": wall / n,
        "training per trial": train / n,
        "fixed per trial": (wall - train) / n,
        "fixed per trial inside the job": (jobs - train) / n,
    }


def job_end(runs: int, repeats: int = 5, config: str | None = None) -> tuple[float, float]:
    """Seconds of one live leaderboard rewrite (what a job end costs) at ``runs`` synthetic
    runs (``config``: the text of their ``.hydra/config.yaml``), after one run's metrics
    changed: the median of ``repeats``, and the first rewrite."""
    from mnist_sweep.report import live, write_leaderboard
    from tests.helpers.synthetic import make_runs

    with tempfile.TemporaryDirectory() as tmp:
        sweep_dir = make_runs(Path(tmp), runs, config=config)
        live.start(sweep_dir, runs + 1, reload_seconds=10)
        first, _ = timed(lambda: write_leaderboard(sweep_dir, run_reports=False))
        times = []
        for i in range(repeats):
            metrics = sweep_dir / str(i) / artifacts.METRICS
            metrics.write_text(metrics.read_text())
            times.append(timed(lambda: write_leaderboard(sweep_dir, run_reports=False))[0])
    return statistics.median(times), first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="later trials timed (5)")
    parser.add_argument("--train-subset", type=int, default=2048, help="training images (2048)")
    parser.add_argument("--sweep-trials", type=int, default=12, help="0: skip the search (12)")
    parser.add_argument("--board-runs", type=int, default=1000, help="0: skip the page (1000)")
    parser.add_argument(
        "--board-config", type=Path, help="a real run's .hydra/config.yaml for the page's runs"
    )
    args = parser.parse_args()
    root = os.environ.get("MNIST_SWEEP_DATA", "data")
    overrides = [*SEARCH, f"data.train_subset={args.train_subset}", f"data.root={root}"]
    print(
        f"CPU: {engine.cpu_name()}; torch {torch.__version__}, CPU capability "
        f"{torch.backends.cpu.get_cpu_capability()}; {os.cpu_count()} cores visible"
    )
    print(f"trial: {' '.join(overrides)}\n")
    print("| phase | first trial of a process (s) | later trials, median (s) |")
    print("|---|---:|---:|")
    rows = phases(args.repeats, overrides)
    for phase, first, later in rows:
        print(f"| {phase} | {first:.3f} | {later:.3f} |")
    fixed = sum(later for phase, _, later in rows if phase != "training")
    print(f"| **all but training, later trials** | | **{fixed:.3f}** |")
    if args.sweep_trials:
        found = sweep(args.sweep_trials, overrides)
        print(
            f"\nwidth search, {found.pop('trials')} trials: "
            + ", ".join(f"{k} {v:.2f} s" for k, v in found.items())
        )
    if args.board_runs:
        config = args.board_config.read_text() if args.board_config else None
        median, first = job_end(args.board_runs, config=config)
        print(
            f"\nlive leaderboard at {args.board_runs} runs: a job end {median:.3f} s (median), "
            f"the first rewrite {first:.3f} s"
        )


if __name__ == "__main__":
    main()
