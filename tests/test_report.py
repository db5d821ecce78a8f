"""Per-run report.html: what it shows, that it stands alone, and that bad run files never stop it.

``fake_run`` (tests/helpers/runs.py) writes a run directory with the real artifact writers and
synthetic content, so these tests need no training.
"""

from __future__ import annotations

import base64
import json
import logging
import re
from pathlib import Path

import numpy as np
import pytest

from mnist_sweep import architecture, artifacts, report
from mnist_sweep.errors import BudgetError
from mnist_sweep.report import run_page
from mnist_sweep.run import execute
from tests.helpers.pages import external_references, tables
from tests.helpers.runs import SEED_NET, SEED_NET_PARAMS, fake_run


def test_report_shows_curves_stats_architecture_confusion_digits_and_config(tmp_path):
    run = fake_run(tmp_path / "run", test_acc=0.9912, epochs=4, overrides=["aug=vflip"])
    html = report.write_run_report(run).read_text()

    assert html.count("data:image/svg+xml;base64,") == 1  # the training curves
    assert "99.12\u00a0%" in html and "99.17\u00a0%" in html  # final and best-epoch accuracy
    assert "at epoch 3" in html
    found = tables(html)
    arch = found["architecture"]
    layers = architecture.layers(architecture.parse(SEED_NET))
    assert [row[0] for row in arch[1:-1]] == [layer.name for layer in layers]
    assert arch[-1][2] == f"{SEED_NET_PARAMS:,}"
    assert f"{SEED_NET_PARAMS:,} of 20,000 parameters" in html
    confusion = found["confusion"]
    assert len(confusion) == 11 and confusion[0][-2:] == ["accuracy", "n"]
    assert confusion[1][-2:] == ["91.20 %", "1,000"]  # the 88 wrong digits are all zeros
    assert confusion[2][-2:] == ["100.00 %", "1,000"]
    assert len(found["history"]) == 1 + 4
    assert html.count('class="digit"') == 64
    assert '0 &rarr; <span class="p">1</span>' in html
    assert "widths:" in html and "aug=vflip" in html


def test_training_curves_draw_only_the_panels_the_history_has_values_for(tmp_path):
    run = fake_run(tmp_path / "run", epochs=2, predictions=False)
    rows = [{"epoch": 1, "test_acc": "", "seconds": 2.0}, {"epoch": 2, "test_acc": 0.95}]
    artifacts.write_history(run / artifacts.HISTORY, rows)
    html = report.write_run_report(run).read_text()
    svg = base64.b64decode(re.search(r"data:image/svg\+xml;base64,([^\"]+)", html)[1]).decode()
    assert "accuracy (%)" in svg and "loss" not in svg and "learning rate" not in svg
    artifacts.write_history(run / artifacts.HISTORY, [{"epoch": 1, "seconds": 2.0}])
    html = report.write_run_report(run).read_text()
    assert "data:image/svg+xml" not in html and len(tables(html)["history"]) == 1 + 1


def test_report_is_one_self_contained_file(tmp_path):
    html = report.write_run_report(fake_run(tmp_path / "run")).read_text()
    assert external_references(html) == []
    assert '<link rel="stylesheet"' not in html and "<script src" not in html


def test_report_of_an_over_budget_run_explains_the_refusal_and_shows_the_architecture(tmp_path):
    wide = {**SEED_NET, "widths": [64] * 7}
    error = "refused before training: the model has 223,754 trainable parameters, over budget"
    run = fake_run(tmp_path / "run", status="over_budget", model=wide, error=error)
    html = report.write_run_report(run).read_text()

    assert "over budget</span>" in html and error in html
    assert f"{223_754 - 20_000:,} over" in html
    assert tables(html)["architecture"][-1][2] == "223,754"
    assert "the run did not train" in html


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        ("truncate metrics.json", "metrics.json is unreadable"),
        ("delete history.csv", "history.csv is missing or unreadable"),
        ("garble history.csv", "data:image/svg+xml"),
        ("truncate predictions.npz", "predictions.npz is missing or unreadable"),
        ("delete .hydra", "No <code>.hydra/config.yaml</code>"),
    ],
)
def test_report_is_still_written_from_a_damaged_run_and_says_what_is_wrong(
    tmp_path, damage, expected
):
    run = fake_run(tmp_path / "run")
    (run / "notes.txt").write_text("a foreign file")
    if damage == "truncate metrics.json":
        (run / "metrics.json").write_text((run / "metrics.json").read_text()[:40])
    elif damage == "delete history.csv":
        (run / "history.csv").unlink()
    elif damage == "garble history.csv":
        with (run / "history.csv").open("a") as f:
            f.write("4,oops,,\n\x00garbage\n")
    elif damage == "truncate predictions.npz":
        (run / "predictions.npz").write_bytes((run / "predictions.npz").read_bytes()[:100])
    else:
        for f in (run / ".hydra").iterdir():
            f.unlink()
        (run / ".hydra").rmdir()
    html = report.write_run_report(run).read_text()
    assert expected in html


def test_report_marks_metrics_of_the_wrong_type_unreadable_and_names_them(tmp_path):
    run = fake_run(tmp_path / "run")
    metrics = json.loads((run / "metrics.json").read_text())
    (run / "metrics.json").write_text(json.dumps(metrics | {"test_acc": "high", "params": [1]}))
    html = report.write_run_report(run).read_text()
    assert "unreadable</span>" in html and "holds a value no run can have: test_acc=" in html


def test_a_refused_run_writes_its_report_and_a_broken_report_never_fails_the_run(
    make_cfg, tmp_path, monkeypatch, caplog
):
    meta = {"overrides": ["budget.max_params=1"], "choices": {}, "job_num": None}
    with pytest.raises(BudgetError):
        execute(make_cfg("budget.max_params=1"), tmp_path / "a", meta, on_end=report.run_ended)
    assert "over budget</span>" in (tmp_path / "a" / artifacts.RUN_REPORT).read_text()

    def broken(run_dir: Path) -> Path:
        raise RuntimeError("template exploded")

    monkeypatch.setattr(run_page, "write_run_report", broken)
    with caplog.at_level(logging.WARNING), pytest.raises(BudgetError):
        execute(make_cfg("budget.max_params=1"), tmp_path / "b", meta, on_end=report.run_ended)
    assert "template exploded" in caplog.text
    assert json.loads((tmp_path / "b" / "metrics.json").read_text())["status"] == "over_budget"
    assert not (tmp_path / "b" / artifacts.RUN_REPORT).exists()


def test_digits_in_the_report_are_the_misclassified_test_images(tmp_path):
    run = fake_run(tmp_path / "run", test_acc=0.9995)
    with np.load(run / artifacts.PREDICTIONS) as npz:
        assert list(npz["wrong_index"]) == [0, 10, 20, 30, 40]
    html = report.write_run_report(run).read_text()
    assert html.count('class="digit"') == 5
    assert re.findall(r"#(\d+)</div></div>", html) == ["0", "10", "20", "30", "40"]
