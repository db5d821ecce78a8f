"""How the reports scale: aggregate a synthetic sweep, write its page, open, sort and filter it
in headless Chromium, rewrite a live page, and rebuild missing run reports in parallel.

    python -m scripts.report_scale [--runs 10000] [--live-runs 500] [--reports 60] \
        [--config RUN/.hydra/config.yaml]

Prints one line per figure (seconds unless said); the synthetic sweeps live in a temporary
folder that is removed afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import optuna
from optuna.distributions import IntDistribution
from optuna.trial import TrialState

from mnist_sweep import trial_attrs
from mnist_sweep.report import live, write_leaderboard
from mnist_sweep.report.collect import collect
from mnist_sweep.report.run_page import write_run_reports
from tests.helpers.chromium import Chromium
from tests.helpers.synthetic import make_runs


def timed(work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def browser_figures(page: Path, profile: Path) -> dict[str, float]:
    """Seconds to open the page; milliseconds to sort by parameters and to filter."""
    chromium = Chromium(shutil.which("chromium") or "chromium", profile)
    try:
        chromium.open(page.parent / "missing.html")  # warm the browser up on a tiny page
        opened = timed(lambda: chromium.open(page))
        timed_js = "(() => {{ const t = performance.now(); {}; return performance.now() - t; }})()"
        sort = chromium.js(timed_js.format("document.querySelector('th[data-key=params]').click()"))
        typing = "const f = document.querySelector('#filter'); f.value = 'pruned';"
        typing += " f.dispatchEvent(new Event('input'))"
        filtering = chromium.js(timed_js.format(typing))
    finally:
        chromium.close()
    return {"open_s": opened, "sort_ms": sort, "filter_ms": filtering}


def study_of(sweep_dir: Path, url: str, n: int) -> None:
    """An Optuna study whose ``n`` trials are the sweep's runs, found by the page as a real
    sweep's is: through the storage named in the runs' ``.hydra/hydra.yaml``."""
    runs = sorted((p for p in sweep_dir.iterdir() if p.is_dir()), key=lambda p: int(p.name))
    space = {f"search.w{i}": IntDistribution(4, 32, step=2) for i in range(1, 5)}
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name="widths", storage=url, direction="maximize")
    trials = []
    for run in runs[:n]:
        overrides = (run / ".hydra" / "overrides.yaml").read_text().split("\n")
        params = dict(o[2:].split("=") for o in overrides if o.startswith("- search.w"))
        record = json.loads((run / "metrics.json").read_text())
        done = record["status"] == "completed"
        attrs = {trial_attrs.RUN_DIR: str(run), trial_attrs.PARAMS: record["params"]}
        if record["status"] == "over_budget":
            attrs[trial_attrs.REFUSED] = record["error"]
        trials.append(
            optuna.trial.create_trial(
                params={k: int(v) for k, v in params.items()},
                distributions=space,
                value=record["val_acc"] if done else None,
                intermediate_values={} if done else {1: record.get("val_acc") or 0.0},
                state=TrialState.COMPLETE if done else TrialState.PRUNED,
                user_attrs=attrs,
            )
        )
        hydra = {"hydra": {"sweeper": {"storage": url, "study_name": "widths"}}}
        (run / ".hydra" / "hydra.yaml").write_text(json.dumps(hydra))
    study.add_trials(trials)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--live-runs", type=int, default=500)
    parser.add_argument("--reports", type=int, default=60)
    parser.add_argument(
        "--config", type=Path, help="a real run's .hydra/config.yaml, written into every run"
    )
    args = parser.parse_args()
    config = args.config.read_text() if args.config else None
    print(f"cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp:
        root = Path(tmp)
        big = make_runs(root / "big", args.runs, config=config)
        print(f"aggregate {args.runs} runs (collect): {timed(lambda: collect(big)):.1f}")
        page_s = timed(lambda: write_leaderboard(big, run_reports=False))
        page = big / "leaderboard.html"
        print(f"leaderboard of {args.runs} runs, no run reports: {page_s:.1f}")
        print(f"page size: {page.stat().st_size / 1e6:.2f} MB")
        for key, value in browser_figures(page, root / "profile").items():
            print(f"chromium {key}: {value:.2f}")

        small = make_runs(root / "live", args.live_runs, config=config)
        live.start(small, expected=args.live_runs, reload_seconds=10)
        write_leaderboard(small, run_reports=False)
        rewrites = [timed(lambda: write_leaderboard(small, run_reports=False)) for _ in range(3)]
        median = statistics.median(rewrites)
        print(f"per-job rewrite at {args.live_runs} runs (median of 3): {median:.2f}")

        url = f"sqlite:///{root / 'widths.db'}"
        study_of(small, url, args.live_runs)
        with_study = [timed(lambda: write_leaderboard(small, run_reports=False)) for _ in range(3)]
        median = statistics.median(with_study)
        print(f"per-job rewrite at {args.live_runs} runs with the study view: {median:.2f}")

        n = args.reports
        for name, workers in (("one process", 1), ("a worker per core", None)):
            reports = make_runs(root / name, n)
            dirs = sorted(p for p in reports.iterdir() if p.is_dir())
            spent = timed(lambda dirs=dirs, workers=workers: write_run_reports(dirs, workers))
            print(f"{n} missing run reports, {name}: {spent:.1f} ({spent / n:.2f} per run)")


if __name__ == "__main__":
    main()
