"""The GPU records script's smoke step sizes the search from measured throughput."""

from __future__ import annotations

import importlib

import pandas as pd
import pytest

smoke = importlib.import_module("benchmarks.gpu.smoke")


def rows(rates: dict[tuple[int, int], float]) -> pd.DataFrame:
    """One row per run: ``procs`` runs at once, each at the given images per second."""
    return pd.DataFrame(
        [
            {"procs": k, "batch": b, "images_per_sec": r}
            for (k, b), r in rates.items()
            for _ in range(k)
        ]
    )


MEASURED = {
    (1, 256): 20_000.0,
    (8, 256): 9_000.0,  # 72,000 in all
    (16, 256): 4_700.0,  # 75,200 in all: within 5 % of 8 processes' total
    (8, 64): 2_500.0,
    (8, 128): 5_000.0,
    (8, 512): 15_000.0,
}


def test_the_fewest_processes_within_five_percent_of_the_most_throughput_are_chosen():
    assert smoke.processes(rows(MEASURED)) == 8


def test_the_search_keeps_the_batch_sizes_whose_longest_trial_fits_a_third_of_it():
    p = smoke.plan(
        rows(MEASURED), search_seconds=300, images=50_000, max_epochs=15, min_epochs=5, overhead=10
    )
    # 15 epochs at batch 128: 749k images / 5,000 per second + 10 s = 160 s, over 100 s
    longest = smoke.trial_seconds(9_000, 256, 15, 50_000, 10)  # 93 s
    assert p.batches == (256, 512)
    assert p.slots == 4  # half of 8: two studies at once
    assert p.longest == pytest.approx(longest, abs=1)
    assert p.timeout == int(300 - longest)  # the last trial started ends within the search
    assert p.expected > 0
    assert "SLOTS=4 BATCHES=256,512 MAX_EPOCHS=15" in p.shell()


def test_when_no_batch_size_fits_the_fastest_one_runs_the_fewest_epochs():
    p = smoke.plan(
        rows(MEASURED), search_seconds=30, images=50_000, max_epochs=15, min_epochs=5, overhead=10
    )
    assert (p.batches, p.max_epochs) == ((512,), 5)
    assert p.timeout >= 1
