"""The confirmed size–accuracy front: which recipe each parameter bound shows, over how many seeds,
and the command that writes ``front.html`` and ``front.md``.

Confirmation runs are written by ``sweep`` (tests/helpers/runs.py): synthetic run folders, no
training.
"""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest

from mnist_sweep.report.__main__ import main
from mnist_sweep.report.collect import collect
from mnist_sweep.report.front import FRONT_PAGE, FRONT_TABLE, pick, recipes
from tests.helpers.pages import external_references, tables
from tests.helpers.runs import sweep

FIRST_SEED = 1000
# recipe: parameters, its confirmation runs' final test accuracy by seed (from FIRST_SEED on),
# and what the runs record beyond that
RECIPES = {
    "small": (2_500, [0.9900, 0.9910, 0.9920], {"study": "arch", "trial": 3}),
    "mid": (4_000, [0.9930, 0.9935, 0.9920], {"study": "arch", "trial": 7}),
    "mid_worse": (4_800, [0.9910, 0.9915, 0.9912], {"study": "arch", "trial": 9}),
    "two_seeds": (7_000, [0.9990, 0.9990], {"study": "arch", "trial": 11}),  # too few seeds
    "large": (11_000, [0.9950, 0.9945, 0.9962, 0.9940], {"choices": {"experiment": "tiny"}}),
}
WIDE = "2026-01-02/03-04-05-000001"  # the second sweep: the large recipe
SEARCH = "2026-01-02/09-00-00-000001"  # a search's trials: validation split, never confirmed


def _jobs(names: list[str]) -> dict[int, dict]:
    jobs, num = {}, 0
    for name in names:
        params, accs, extra = RECIPES[name]
        override = "experiment=tiny" if "choices" in extra else f"search.name={name}"
        for i, acc in enumerate(accs):
            seed = FIRST_SEED + i
            jobs[num] = {
                "overrides": [override, f"trainer.seed={seed}"],
                "test_acc": acc,
                "params": params,
                "seed": seed,
                "epochs": 3,
                "train_seconds": 10.0 + i,
                **extra,
            }
            num += 1
    return jobs


@pytest.fixture()
def runs(tmp_path: Path) -> list[Path]:
    """Two confirmation sweeps under ``multirun/`` and a search sweep beside them."""
    root = tmp_path / "multirun"
    first = sweep(root, "2026-01-01/03-04-05-000001", _jobs(["small", "mid", "mid_worse"]))
    second = sweep(root, WIDE, _jobs(["two_seeds", "large"]))
    trial = {"params": 2_000, "test_acc": 0.999, "val_acc": 0.999}  # repeated over 3 seeds
    seeds = {s: trial | {"overrides": ["search.name=trial", f"trainer.seed={s}"], "seed": s}
             for s in range(3)}  # fmt: skip
    sweep(root, SEARCH, seeds)
    return [first, second]


def test_each_bound_shows_the_best_mean_among_recipes_within_it(runs):
    table = recipes(collect(runs[0].parents[1]))
    chosen = pick(table, [2_000, 3_000, 5_000, 8_000, 12_000, 20_000], min_seeds=3)
    origins = [c and c["origin"] for c in chosen]
    assert origins == [
        None,  # the search trial (2,000 parameters, 99.9 % on test) is no confirmation
        "study arch, trial 3",
        "study arch, trial 7",  # best mean under 5,000, over the larger trial 9
        "study arch, trial 7",  # trial 11 (7,000) has two seeds only
        "preset tiny",
        "preset tiny",
    ]


def test_a_recipe_with_fewer_seeds_than_the_minimum_is_ignored(runs):
    table = recipes(collect(runs[0].parents[1]))
    assert pick(table, [8_000], min_seeds=3)[0]["origin"] == "study arch, trial 7"
    assert pick(table, [8_000], min_seeds=2)[0]["origin"] == "study arch, trial 11"
    assert pick(table, [20_000], min_seeds=5) == [None]


def test_mean_std_worst_seed_and_median_time_are_over_the_recipe_seeds(runs):
    table = recipes(collect(runs[1])).set_index("origin")
    large = table.loc["preset tiny"]
    accs = RECIPES["large"][1]
    assert large["n"] == 4 and large["seeds"] == [1000, 1001, 1002, 1003]
    assert large["mean"] == pytest.approx(statistics.mean(accs))
    assert large["std"] == pytest.approx(statistics.stdev(accs))
    assert (large["worst"], large["worst_seed"]) == (0.9940, 1003)
    assert large["train_seconds"] == pytest.approx(11.5) and large["params"] == 11_000
    assert large["sweeps"] == [runs[1].as_posix()]


def test_front_command_writes_the_page_and_the_table_and_prints_it(runs, tmp_path, capsys):
    out = tmp_path / "front"
    assert (
        main(["front", *map(str, runs), "--bounds", "8000", "3000", "12000", "--out", str(out)])
        == 0
    )
    printed = capsys.readouterr().out
    text = (out / FRONT_TABLE).read_text()
    assert text.strip() in printed and f"wrote {out / FRONT_PAGE}" in printed
    lines = text.splitlines()
    assert lines[0].startswith("| params ≤ | params | epochs | seeds |")
    assert [line.split(" | ")[0] for line in lines[2:]] == ["| 3,000", "| 8,000", "| 12,000"]
    std = statistics.stdev(RECIPES["large"][1])
    assert lines[4].startswith(
        f"| 12,000 | 11,000 | 3 | 1000–1003 | 99.49 ± {100 * std:.2f} | 99.40 (seed 1003) | 11.5 "
        "| preset tiny | `"
    )
    html = (out / FRONT_PAGE).read_text()
    front = tables(html)["front"]
    assert [row[0] for row in front[1:]] == ["3,000", "8,000", "12,000"]
    assert front[2][1:4] == ["4,000", "3", "1000–1002"] and front[2][7] == "study arch, trial 7"
    assert len(tables(html)["recipes"]) == 1 + len(RECIPES)
    assert html.count("data:image/svg+xml;base64,") == 1 and external_references(html) == []


def test_a_bound_without_a_confirmed_model_shows_a_dash(runs, tmp_path, capsys):
    assert main(["front", str(runs[0]), "--bounds", "1000", "--out", str(tmp_path)]) == 0
    row = (tmp_path / FRONT_TABLE).read_text().splitlines()[2]
    assert row == "| 1,000 |" + " — |" * 8


@pytest.mark.parametrize(
    ("args", "bad"),
    [
        (["--bounds", "5000", "5k"], "--bounds='5k' is not allowed; it must be an integer >= 1"),
        (["--bounds", "0"], "--bounds=0 is not allowed; it must be an integer >= 1"),
        (["--bounds", "-3000"], "--bounds=-3000 is not allowed"),
        (["--min-seeds", "0"], "--min-seeds=0 is not allowed; it must be an integer >= 1"),
    ],
)
def test_bad_bounds_get_one_line_naming_them(runs, capsys, args, bad):
    assert main(["front", str(runs[0]), *args]) == 2
    err = capsys.readouterr().err
    assert bad in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (runs[0] / FRONT_PAGE).exists()


def test_a_folder_without_runs_gets_one_line(tmp_path, capsys):
    assert main(["front", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"no runs found under {tmp_path}" in err and err.count("\n") == 1
