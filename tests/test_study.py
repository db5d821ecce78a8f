"""The study view of an Optuna sweep and ``python -m mnist_sweep.report STORAGE_URL``.

``make_study`` (tests/helpers/studies.py) builds a small real study with Optuna's API (completed,
pruned and refused trials) whose trials point to ``fake_run`` folders, so no test here trains.
"""

from __future__ import annotations

import csv
import sqlite3
import statistics
from pathlib import Path

import optuna
import pandas as pd
import pytest
from optuna.distributions import IntDistribution

from mnist_sweep import artifacts, report, storage
from mnist_sweep.report import study_charts
from mnist_sweep.report.__main__ import main
from mnist_sweep.report.study import cost_points
from tests.helpers.pages import page_data, tables
from tests.helpers.runs import fake_run
from tests.helpers.studies import SPACE, STAMP, make_study


@pytest.fixture(scope="module")
def study_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("study")
    return report.write_study_page(make_study(root), run_reports=False)


def test_study_page_goes_beside_the_database_with_every_trained_trial_as_a_row(study_page):
    assert study_page.name == "widths.html" and study_page.parent.name == "studies"
    data = page_data(study_page)
    assert data["rows"]["name"] == [f"trial {n}" for n in range(12) if n % 5 != 4]
    assert data["rows"]["report"][0] == f"../multirun/{STAMP}/0/report.html"
    assert study_page.with_suffix(".csv").is_file()


def test_study_view_marks_pruned_and_refused_trials_and_links_runs(study_page):
    study = page_data(study_page)["study"]
    kinds = {t["number"]: t["kind"] for t in study["trials"]}
    assert [n for n, k in kinds.items() if k == "refused"] == [4, 9]
    assert [n for n, k in kinds.items() if k == "pruned"] == [3, 7, 11]
    pruned = next(t for t in study["trials"] if t["number"] == 3)
    assert pruned["value"] == pytest.approx(0.95 + 0.004 * pruned["p"][0] / 4 + 0.0003 - 0.021)
    assert [t["rows"] for t in study["trials"] if t["kind"] == "refused"] == [[], []]
    assert [t["rows"] for t in study["trials"][:4]] == [[0], [1], [2], [3]]
    assert study["params"] == list(SPACE)
    assert study["history_chart"].startswith("data:image/svg+xml;base64,")


def test_importances_of_every_searched_parameter_for_objective_and_size(study_page):
    study = page_data(study_page)["study"]
    assert "PedAnovaImportanceEvaluator" in study["evaluator"]
    for target in ("objective", "params"):
        shares = dict(study["importance"][target])
        assert sorted(shares) == sorted(SPACE)
        assert sum(shares.values()) == pytest.approx(1.0)
    assert max(dict(study["importance"]["objective"]).items(), key=lambda kv: kv[1])[0] == (
        "search.w1"  # the objective depends on w1 alone
    )
    html = study_page.read_text()
    assert len(tables(html)[""]) >= 8  # both importance tables, one row per parameter


def test_storage_command_builds_the_page_and_reports_the_paths(tmp_path, capsys):
    url = make_study(tmp_path, n=3)
    out = tmp_path / "pages"
    assert main([url, "--out", str(out), "--no-run-reports"]) == 0
    assert (out / "widths.html").is_file() and (out / "widths.csv").is_file()
    assert f"wrote {out / 'widths.html'}" in capsys.readouterr().out
    assert not (tmp_path / "multirun" / STAMP / "0" / artifacts.RUN_REPORT).exists()
    assert main([url, "--out", str(out)]) == 0
    assert (tmp_path / "multirun" / STAMP / "0" / artifacts.RUN_REPORT).is_file()


def _error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ")
    return err


def test_storage_command_refuses_bad_storages_and_studies_in_one_line(tmp_path, capsys):
    url = make_study(tmp_path, n=2)
    missing = tmp_path / "nope.db"
    assert "does not exist" in _error([f"sqlite:///{missing}"], capsys)
    assert not missing.exists()  # opening it never created it
    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE notes (text)")
    assert "holds no Optuna study" in _error([f"sqlite:///{foreign}"], capsys)
    with sqlite3.connect(foreign) as db:
        tables_after = [r[0] for r in db.execute("SELECT name FROM sqlite_master")]
    assert tables_after == ["notes"]  # nothing added to someone else's database
    assert "holds no study 'nope' (it holds widths)" in _error([url, "--study", "nope"], capsys)
    unreachable = _error(["postgresql+nodriver://me:secret@x/y"], capsys)
    assert "could not be opened" in unreachable and "secret" not in unreachable
    assert "--study" in _error([str(tmp_path), "--study", "widths"], capsys)


def test_a_storage_with_several_studies_needs_study(tmp_path, capsys):
    url = make_study(tmp_path, n=2)
    study = optuna.load_study(study_name="widths", storage=url)
    optuna.create_study(study_name="second", storage=url)
    assert "holds second, widths; choose one with --study NAME" in _error([url], capsys)
    assert main([url, "--study", study.study_name, "--no-run-reports"]) == 0


def test_seed_repeats_give_mean_and_std_and_their_own_chart(tmp_path, study_page):
    assert page_data(study_page)["study"]["seeds_chart"] == ""  # no trial has seed_values
    page = report.write_study_page(make_study(tmp_path, n=4, seeds=True), run_reports=False)
    data = page_data(page)
    first = data["study"]["trials"][0]
    assert first["rows"] == [0, 1, 2]  # one row per seed
    assert data["rows"]["name"][:3] == ["trial 0 seed 0", "trial 0 seed 1", "trial 0 seed 2"]
    assert first["n_seeds"] == 3
    assert first["seed_std"] == pytest.approx(statistics.pstdev([-0.001, 0.0, 0.001]))
    assert first["seed_mean"] == pytest.approx(first["value"])
    assert "Pareto front of the means" in page.read_text()


def test_the_page_carries_only_the_config_values_that_differ_between_runs(study_page):
    data = page_data(study_page)
    assert data["config_keys"] == ["model.widths"]  # the only difference between the trials
    widths = [values[0] for values in data["config"]]
    assert len(widths) == 10 and all(len(w) == 7 for w in widths)


def test_a_journal_storage_gives_its_study_page_beside_the_journal(tmp_path, capsys):
    journal = tmp_path / "studies" / "widths.log"
    url = f"{storage.JOURNAL}{journal}"
    missing = _error([f"{storage.JOURNAL}{tmp_path / 'nope.log'}"], capsys)
    assert "does not exist" in missing and not (tmp_path / "nope.log").exists()
    study = optuna.create_study(study_name="widths", storage=storage.open_storage(url))
    run_dir = fake_run(tmp_path / "run", overrides=["search.w1=8"], trial=0, predictions=False)
    trial = study.ask({"search.w1": IntDistribution(4, 32, step=2)})
    trial.set_user_attr("run_dir", str(run_dir))
    study.tell(trial, 0.99)
    assert main([url, "--no-run-reports"]) == 0
    assert page_data(journal.parent / "widths.html")["rows"]["name"] == ["trial 0"]


def test_confirmed_trials_are_listed_smallest_first_with_the_front_marked(tmp_path):
    url = make_study(tmp_path, n=3)
    study = optuna.load_study(study_name="widths", storage=url)
    for trial, params, accs in ((0, 9000, [0.9950, 0.9940]), (1, 5000, [0.9930, 0.9945]),
                                (2, 7000, [0.9920, 0.9930])):  # fmt: skip
        study.set_user_attr(
            f"confirmed/{trial}",
            {"trial": trial, "params": params, "value": 0.99, "seeds": [1000, 1001],
             "set": ["trainer.epochs=12"], "test_acc": accs, "mean": statistics.mean(accs),
             "std": statistics.stdev(accs), "worst": min(accs), "sweep": str(tmp_path)},
        )  # fmt: skip
    page = report.write_study_page(url, run_reports=False)
    confirmed = page_data(page)["study"]["confirmed"]
    assert [c["trial"] for c in confirmed] == [1, 2, 0]
    assert [c["front"] for c in confirmed] == [True, False, True]  # 7,000 is below 5,000's mean
    html = page.read_text()
    assert "Confirmed on held-out seeds" in html and "1000: 99.30" in html
    assert "trainer.epochs=12" in html


def test_trials_with_one_validation_point_each_get_no_learning_curves_chart(tmp_path, study_page):
    assert 'id="curves"' in study_page.read_text()  # three epochs a trial: a line each
    url = make_study(tmp_path, n=4)
    for n, history in enumerate(sorted((tmp_path / "multirun").rglob(artifacts.HISTORY))):
        last = list(csv.DictReader(history.open()))[-1]
        if n % 2:  # validated only after its last epoch
            rows = [{"epoch": e, "val_acc": "", "test_acc": last["test_acc"]} for e in (1, 2)]
        else:  # a 1-epoch trial
            rows = []
        rows.append({"epoch": len(rows) + 1, "val_acc": last["val_acc"], "test_acc": ""})
        artifacts.write_history(history, rows)
    page = report.write_study_page(url, run_reports=False)
    curves = page_data(page)["curves"]
    assert len(curves) == 4 and all(sum(v is not None for v in c) == 1 for c in curves)
    html = page.read_text()
    assert 'id="curves"' not in html and "Learning curves of every trial" not in html
    assert 'id="history"' in html and 'id="parcoords"' in html  # the rest of the study view


def test_the_accuracy_compute_front_takes_each_trial_run_that_trained_to_its_end():
    table = pd.DataFrame(
        {
            "trial": [0, 1, 2, 3, None],
            "level": ["below", "target", "pruned", "below", "below"],
            "val_acc": [0.99, 0.995, 0.98, None, 0.99],
            "train_macs": [2e12, 3e12, 1e12, 1e12, 1e12],
        }
    )
    points = cost_points(table)  # not pruned 2, not 3 without a value, not a run of no trial
    assert points.to_dict("list") == {
        "trial": [0, 1],
        "val_acc": [0.99, 0.995],
        "train_macs": [2e12, 3e12],
    }
    assert study_charts.cost_front(points).startswith("data:image/svg+xml;base64,")
    assert study_charts.cost_front(cost_points(table.iloc[2:4])) == ""  # nothing to draw
    assert cost_points(table.drop(columns="train_macs")).empty  # runs from before the field
