"""Per-run report.html: what it shows, that it stands alone, and that bad run files never stop it.

``fake_run`` writes a run directory with the real artifact writers and synthetic content, so
these tests (and the leaderboard and browser tests, which import it) need no training.
"""

from __future__ import annotations

import json
import logging
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml

from mnist_sweep import artifacts, models, report
from mnist_sweep.errors import BudgetError
from mnist_sweep.run import execute
from tests.conftest import CONF

SEED_NET = yaml.safe_load((CONF / "model" / "seed_net.yaml").read_text())
SEED_NET_PARAMS = models.count_params(SEED_NET)


def fake_run(
    run_dir: Path,
    *,
    status: str = "completed",
    test_acc: float = 0.9912,
    epochs: int = 3,
    overrides: list[str] | None = None,
    model: dict[str, Any] | None = None,
    max_params: int = 20_000,
    history: bool = True,
    predictions: bool = True,
    **metrics: Any,
) -> Path:
    """A run directory as run.py leaves it, with synthetic metrics, history and predictions."""
    model = model or SEED_NET
    overrides = overrides or []
    hydra = run_dir / ".hydra"
    hydra.mkdir(parents=True)
    config = {
        "model": model,
        "trainer": {"epochs": epochs, "seed": metrics.get("seed", 0)},
        "budget": {"max_params": max_params, "max_epochs": 20},
    }
    (hydra / "config.yaml").write_text(yaml.safe_dump(config))
    (hydra / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    record = {
        "status": status,
        "started_at": "2026-01-02T03:04:05",
        "overrides": overrides,
        "job_num": None,
        "params": models.count_params(model),
        "epochs": epochs,
        "seed": 0,
        **metrics,
    }
    if status == "completed":
        record = {
            "test_acc": test_acc,
            "test_loss": 0.03,
            "best_test_acc": test_acc + 0.0005,
            "best_epoch": max(1, epochs - 1),
            "val_acc": None,
            "train_seconds": 2.0 * epochs,
            "images_per_sec": 30_000.0,
            "wall_seconds": 2.5 * epochs,
        } | record
        if history:
            rows = [
                {
                    "epoch": e,
                    "train_loss": 1 / (e + 1),
                    "train_acc": 0.99 - 0.05 / e,
                    "lr": 0.05 / e,
                    "seconds": 2.0,
                    "test_loss": 1 / (e + 2),
                    "test_acc": test_acc - (epochs - e) / 1000,
                }
                for e in range(1, epochs + 1)
            ]
            artifacts.write_history(run_dir / artifacts.HISTORY, rows)
        if predictions:
            target = (torch.arange(10_000) % 10).to(torch.uint8)
            pred = target.clone()
            zeros = torch.arange(0, 10_000, 10)[: round((1 - test_acc) * 10_000)]
            pred[zeros] = 1  # every error: a zero taken for a one
            images = torch.randint(0, 256, (10_000, 28, 28), dtype=torch.uint8)
            artifacts.save_predictions(run_dir / artifacts.PREDICTIONS, pred, target, images)
    artifacts.write_json(run_dir / artifacts.METRICS, record)
    return run_dir


class _Tables(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._table: list[list[str]] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._table = self.tables.setdefault(dict(attrs).get("id") or "", [])
        elif tag == "tr" and self._table is not None:
            self._table.append([])
        elif tag in ("td", "th") and self._table is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._table:
            self._table[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def tables(html: str) -> dict[str, list[list[str]]]:
    """Every table of a page by id: rows of cell texts, the header row first."""
    parser = _Tables()
    parser.feed(html)
    return parser.tables


def external_references(html: str) -> list[str]:
    """src/href values that would need a network: anything but data:, #anchors and relative."""
    refs = re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)["']""", html)
    return [
        r for r in refs if re.match(r"[a-z][a-z0-9+.-]*:", r, re.I) and not r.startswith("data:")
    ]


def test_report_shows_curves_stats_architecture_confusion_digits_and_config(tmp_path):
    run = fake_run(tmp_path / "run", test_acc=0.9912, epochs=4, overrides=["aug=vflip"])
    html = report.write_run_report(run).read_text()

    assert html.count("data:image/svg+xml;base64,") == 1  # the training curves
    assert "99.12\u00a0%" in html and "99.17\u00a0%" in html  # final and best-epoch accuracy
    assert "at epoch 3" in html
    found = tables(html)
    arch = found["architecture"]
    layers = models.layers(models.parse(SEED_NET))
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
        execute(make_cfg("budget.max_params=1"), tmp_path / "a", meta)
    assert "over budget</span>" in (tmp_path / "a" / report.RUN_REPORT).read_text()

    def broken(run_dir: Path) -> Path:
        raise RuntimeError("template exploded")

    monkeypatch.setattr(report, "write_run_report", broken)
    with caplog.at_level(logging.WARNING), pytest.raises(BudgetError):
        execute(make_cfg("budget.max_params=1"), tmp_path / "b", meta)
    assert "template exploded" in caplog.text
    assert json.loads((tmp_path / "b" / "metrics.json").read_text())["status"] == "over_budget"
    assert not (tmp_path / "b" / report.RUN_REPORT).exists()


def test_digits_in_the_report_are_the_misclassified_test_images(tmp_path):
    run = fake_run(tmp_path / "run", test_acc=0.9995)
    with np.load(run / artifacts.PREDICTIONS) as npz:
        assert list(npz["wrong_index"]) == [0, 10, 20, 30, 40]
    html = report.write_run_report(run).read_text()
    assert html.count('class="digit"') == 5
    assert re.findall(r"#(\d+)</div></div>", html) == ["0", "10", "20", "30", "40"]
