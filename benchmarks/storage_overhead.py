"""Ask/tell overhead per trial of each study storage: SQLite, journal file, PostgreSQL.

    .venv/bin/python -m benchmarks.storage_overhead [--trials 200]

Each storage gets a fresh study and ``--trials`` instant trials (ask, one suggested float, tell),
as the search sweeper does per trial; PostgreSQL is a throwaway local server
(tests/helpers/servers.py), so the figures are the storage's own cost without a network. Prints a
Markdown table.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import optuna

from mnist_sweep.storage import open_storage
from tests.helpers.servers import postgres, postgres_bin


def per_trial_ms(url: str, trials: int) -> tuple[float, float]:
    """Median and mean milliseconds of one ask + suggest + tell."""
    study = optuna.create_study(storage=open_storage(url), study_name="overhead")
    times = []
    for _ in range(trials):
        start = time.perf_counter()
        trial = study.ask()
        study.tell(trial, trial.suggest_float("x", 0, 1))
        times.append(1000 * (time.perf_counter() - start))
    return statistics.median(times), statistics.mean(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        rows.append(("SQLite file", per_trial_ms(f"sqlite:///{tmp}/s.db", args.trials)))
        rows.append(("journal file", per_trial_ms(f"journal://{tmp}/s.log", args.trials)))
    if postgres_bin():
        with postgres() as url:
            rows.append(("PostgreSQL (local server)", per_trial_ms(url, args.trials)))
    print(f"| storage | ms per trial, median | mean | ({args.trials} instant trials) |")
    print("|---|---:|---:|---|")
    for name, (median, mean) in rows:
        print(f"| {name} | {median:.1f} | {mean:.1f} | |")


if __name__ == "__main__":
    main()
