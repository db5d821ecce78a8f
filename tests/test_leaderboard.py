"""The leaderboard: which runs it finds, their order, status, key changes, groups and charts.

Runs are written by ``fake_run`` (no training); one test runs the report command in a subprocess.
"""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from unittest.mock import patch

import pytest
from omegaconf import OmegaConf

from mnist_sweep import artifacts, models, report
from mnist_sweep.record import LEVELS
from mnist_sweep.report import board
from mnist_sweep.report.__main__ import main
from mnist_sweep.report.pages import json_script
from mnist_sweep.report.run_files import read_config, read_curve
from mnist_sweep.report.run_page import PARALLEL_REPORTS_FROM, write_run_reports
from tests.helpers.pages import external_references, page_data, tables
from tests.helpers.runs import SEED_NET, SEED_NET_PARAMS, fake_run, sweep
from tests.helpers.synthetic import make_runs

SHARED = ["data.train_subset=512", "trainer.epochs=1"]  # overrides every job of a sweep has


def rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader((path / artifacts.LEADERBOARD_CSV).open()))


def test_runs_appear_in_launch_order_with_their_key_changes(tmp_path):
    augs = ["rotate", "hflip", "vflip", "none", "affine"] * 2 + ["rotate"]  # jobs 0..10
    jobs = {n: {"overrides": [f"aug={aug}", *SHARED]} for n, aug in enumerate(augs)}
    shuffled = dict(sorted(jobs.items(), key=lambda kv: str(kv[0])))  # 0, 1, 10, 2, ...
    sweep_dir = sweep(tmp_path, "2026-01-02/03-04-05-000001", shuffled)
    page = report.write_leaderboard(sweep_dir)

    assert page == sweep_dir / artifacts.LEADERBOARD
    table = rows(sweep_dir)
    assert [r["job_num"] for r in table] == [str(n) for n in range(11)]
    assert [r["run"] for r in table] == [str(n) for n in range(1, 12)]
    assert [r["key_changes"] for r in table] == [f"aug={aug}" for aug in augs]
    assert [r["report"] for r in table] == [f"{n}/report.html" for n in range(11)]
    header = tables(page.read_text())["leaderboard"][0]
    assert header[1:7] == ["#", "report", "parameters", "final test acc", "key changes", "status"]
    data = page_data(page)["rows"]
    assert data["changes"][:3] == [["aug=rotate"], ["aug=hflip"], ["aug=vflip"]]
    assert data["name"][:3] == ["aug=rotate", "aug=hflip", "aug=vflip"]  # the run, by its change
    assert data["path"][:3] == ["0", "1", "2"]
    for n in range(11):
        assert (sweep_dir / str(n) / artifacts.RUN_REPORT).is_file()


def test_status_levels_follow_the_target_budget_and_run_state(tmp_path):
    small = {**SEED_NET, "widths": [8, 8, 8, 8, 8, 8, 8]}
    wide = {**SEED_NET, "widths": [64] * 7}
    jobs = {
        0: {"test_acc": 0.9940, "overrides": ["a=0"]},
        1: {"test_acc": 0.9939, "overrides": ["a=1"]},
        2: {"test_acc": 0.9960, "epochs": 25, "overrides": ["a=2"]},
        3: {"test_acc": 0.9960, "max_params": 10_000, "overrides": ["a=3"]},
        4: {"test_acc": 0.9945, "model": small, "max_params": 5_000, "overrides": ["a=4"]},
        5: {
            "status": "over_budget",
            "model": wide,
            "error": "refused: too big",
            "overrides": ["a=5"],
        },
        6: {"status": "failed", "error": "RuntimeError: boom\nline two", "overrides": ["a=6"]},
        7: {"status": "running", "overrides": ["a=7"]},
    }
    sweep_dir = sweep(tmp_path, "2026-01-02/03-04-05-000001", jobs)
    (sweep_dir / "8" / ".hydra").mkdir(parents=True)  # launched, nothing written yet
    (sweep_dir / "8" / ".hydra" / "overrides.yaml").write_text("- a=8\n")
    (sweep_dir / "9").mkdir()
    (sweep_dir / "9" / "metrics.json").write_text('{"status": "compl')
    report.write_leaderboard(sweep_dir)

    table = rows(sweep_dir)
    assert [r["status"] for r in table] == [
        "target achieved",
        "below target",
        "below target",
        "below target",
        "target achieved",
        "over budget",
        "failed",
        "running / incomplete",
        "running / incomplete",
        "unreadable",
    ]
    assert table[5]["detail"] == "refused: too big"
    assert table[6]["detail"] == "RuntimeError: boom"
    assert table[8]["key_changes"] == "a=8"
    assert table[9]["detail"].startswith("metrics.json is unreadable")


def test_runs_differing_only_in_seed_are_grouped_with_mean_std_and_n(tmp_path):
    accs = {0: 0.9930, 1: 0.9940, 2: 0.9950}
    jobs = {
        s: {"test_acc": a, "seed": s, "overrides": [f"trainer.seed={s}", *SHARED]}
        for s, a in accs.items()
    }
    jobs[3] = {"test_acc": 0.99, "seed": 0, "overrides": ["trainer.seed=0", "aug=none", *SHARED]}
    sweep_dir = sweep(tmp_path, "2026-01-02/03-04-05-000001", jobs)
    html = report.write_leaderboard(sweep_dir).read_text()

    groups = tables(html)["seeds"]
    assert len(groups) == 2  # header + the one group of three; the lone aug=none run is no group
    assert groups[1][:3] == ["base config", "3", "99.40 % ± 0.10 %"]
    assert groups[1][5:] == ["0, 1, 2", "#1, #2, #3"]


def test_header_names_the_run_count_best_run_and_smallest_model_on_target(tmp_path):
    small = {**SEED_NET, "widths": [8, 8, 8, 8, 8, 8, 8]}
    jobs = {
        0: {"test_acc": 0.9950, "overrides": ["m=big"]},
        1: {"test_acc": 0.9941, "model": small, "overrides": ["m=small"]},
        2: {"test_acc": 0.9800, "model": {**SEED_NET, "widths": [4] * 7}, "overrides": ["m=tiny"]},
    }
    html = report.write_leaderboard(sweep(tmp_path, "2026-01-02/03-04-05-000001", jobs)).read_text()
    small_params = models.count_params(small)

    best = html.split('id="summary-best"')[1].split("</div>\n  <div")[0]
    assert "99.50\u00a0%" in best and 'href="0/report.html">run #1' in best
    smallest = html.split('id="summary-smallest"')[1].split("</div>\n  <div")[0]
    assert f"{small_params:,}" in smallest and "run #2" in smallest
    assert '<div class="v">3</div>' in html.split('id="summary-runs"')[1]


def test_training_cost_and_time_to_target_are_columns_a_card_and_report_rows(tmp_path):
    jobs = {
        0: {
            "test_acc": 0.9950,
            "train_macs": 1_224_000_000_000,
            "target_epoch": 5,
            "target_seconds": 48.25,
            "overrides": ["a=0"],
        },
        1: {
            "test_acc": 0.9945,
            "train_macs": 2_000_000_000_000,
            "target_epoch": 3,
            "target_seconds": 30.5,
            "overrides": ["a=1"],
        },
        2: {"test_acc": 0.9900, "train_macs": 350_000_000_000, "overrides": ["a=2"]},  # never
    }
    sweep_dir = sweep(tmp_path, "2026-01-02/03-04-05-000001", jobs)
    page = report.write_leaderboard(sweep_dir)
    html = page.read_text()

    table = rows(sweep_dir)
    assert [r["train_macs"] for r in table] == ["1224000000000", "2000000000000", "350000000000"]
    assert [r["target_epoch"] for r in table] == ["5", "3", ""]
    assert [r["target_seconds"] for r in table] == ["48.25", "30.5", ""]
    header = tables(html)["leaderboard"][0]
    assert header[header.index("epochs") + 1 : header.index("epochs") + 3] == [
        "train MACs",
        "to target",
    ]
    data = page_data(page)["rows"]
    assert data["train_macs"] == [1_224_000_000_000, 2_000_000_000_000, 350_000_000_000]
    assert data["target_epoch"] == [5, 3, None] and data["target_seconds"] == [48.2, 30.5, None]
    fastest = html.split('id="summary-fastest"')[1].split("</div>\n  <div")[0]
    assert "30.5\u00a0s" in fastest and "run #2" in fastest and "epoch 3" in fastest
    assert "2.00\u00a0T multiply-adds" in fastest

    def cells(job: int) -> list[str]:
        text = (sweep_dir / str(job) / artifacts.RUN_REPORT).read_text()
        return [
            text.split(f'id="{key}">')[1].split("</tr>")[0] for key in ("train-macs", "to-target")
        ]

    macs, target = cells(0)
    assert "1.22\u00a0T" in macs and "at epoch 5, after 48.2\u00a0s of training" in target
    macs, target = cells(2)
    assert "350\u00a0G" in macs and "at epoch" not in target and "not reached" in target


def test_pareto_front_keeps_runs_no_other_beats_on_size_and_accuracy(tmp_path):
    def widths(w: int) -> dict:
        return {**SEED_NET, "widths": [w] * 7}

    jobs = {
        0: {"test_acc": 0.990, "model": widths(4), "overrides": ["w=4"]},
        1: {"test_acc": 0.985, "model": widths(6), "overrides": ["w=6"]},  # bigger and worse
        2: {"test_acc": 0.994, "model": widths(8), "overrides": ["w=8"]},
        3: {"test_acc": 0.993, "model": widths(10), "overrides": ["w=10"]},  # bigger and worse
    }
    sweep_dir = sweep(tmp_path, "2026-01-02/03-04-05-000001", jobs)
    html = report.write_leaderboard(sweep_dir).read_text()
    assert [r["pareto_front"] for r in rows(sweep_dir)] == ["True", "False", "True", "False"]
    assert page_data(sweep_dir / artifacts.LEADERBOARD)["rows"]["pareto"] == [
        True,
        False,
        True,
        False,
    ]
    assert html.count("data:image/svg+xml;base64,") == 2  # Pareto and journey charts


def test_charts_with_nothing_to_draw_are_left_out(tmp_path):
    jobs = {
        0: {"status": "failed", "error": "RuntimeError: boom", "overrides": ["a=0"]},
        1: {"status": "running", "overrides": ["a=1"]},
    }
    sweep_dir = sweep(tmp_path, "2026-01-02/03-04-05-000001", jobs)
    html = report.write_leaderboard(sweep_dir, run_reports=False).read_text()
    assert "data:image/svg+xml" not in html and "<h2>Charts</h2>" not in html
    # a finished 1-epoch run: a point on each chart, but no line for the learning curves
    fake_run(sweep_dir / "2", job_num=2, epochs=1, overrides=["a=2"], predictions=False)
    html = report.write_leaderboard(sweep_dir, run_reports=False).read_text()
    assert 'id="pareto"' in html and 'id="journey"' in html and 'id="curves"' not in html
    fake_run(sweep_dir / "3", job_num=3, epochs=2, overrides=["a=3"], predictions=False)
    assert 'id="curves"' in report.write_leaderboard(sweep_dir, run_reports=False).read_text()


def test_a_parent_folder_compares_sweeps_across_days_in_launch_order(tmp_path):
    multirun = tmp_path / "multirun"
    later = sweep(multirun, "2026-01-03/00-00-00-000001", {0: {"overrides": ["x=later0"]}})
    sweep(
        multirun, "2026-01-02/23-59-59-999999", {i: {"overrides": [f"x=early{i}"]} for i in (0, 1)}
    )
    sweep(
        multirun, "2026-01-02/23-59-59-000001", {i: {"overrides": [f"x=first{i}"]} for i in (0, 1)}
    )
    single = tmp_path / "multirun" / "loose" / "run"  # not a sweep: ordered by started_at
    fake_run(single, overrides=["x=loose"], started_at="2026-01-02T12:00:00")
    report.write_leaderboard(multirun)

    table = rows(multirun)
    assert [r["key_changes"] for r in table] == [
        "x=loose",
        "x=first0",
        "x=first1",
        "x=early0",
        "x=early1",
        "x=later0",
    ]
    assert table[-1]["report"] == "2026-01-03/00-00-00-000001/0/report.html"
    assert (later / "0" / artifacts.RUN_REPORT).is_file()
    assert not (later / artifacts.LEADERBOARD).exists()


def test_key_changes_of_a_single_run_are_all_its_overrides(tmp_path):
    run = fake_run(tmp_path / "run", overrides=["aug=vflip", "optim.lr=0.02"])
    report.write_leaderboard(run)
    assert [r["key_changes"] for r in rows(run)] == ["aug=vflip; optim.lr=0.02"]
    assert [r["report"] for r in rows(run)] == ["./report.html"]


def test_validation_column_appears_only_when_a_run_has_a_validation_split(tmp_path):
    without = sweep(tmp_path, "2026-01-02/03-04-05-000001", {0: {}, 1: {}})
    report.write_leaderboard(without)
    assert "val acc" not in tables((without / artifacts.LEADERBOARD).read_text())["leaderboard"][0]
    with_val = sweep(tmp_path, "2026-01-02/03-04-05-000002", {0: {"val_acc": 0.991}, 1: {}})
    report.write_leaderboard(with_val)
    assert "val acc" in tables((with_val / artifacts.LEADERBOARD).read_text())["leaderboard"][0]
    assert page_data(with_val / artifacts.LEADERBOARD)["rows"]["val_acc"] == [0.991, None]


def test_leaderboard_is_one_self_contained_file_with_sortable_columns(tmp_path):
    sweep_dir = sweep(tmp_path, "2026-01-02/03-04-05-000001", {0: {}, 1: {"test_acc": 0.995}})
    html = report.write_leaderboard(sweep_dir).read_text()
    assert external_references(html) == []
    assert '<table class="sortable" id="leaderboard" data-scripted>' in html
    assert page_data(sweep_dir / artifacts.LEADERBOARD)["rows"]["params"] == [SEED_NET_PARAMS] * 2


def test_damaged_runs_and_foreign_files_do_not_stop_the_page(tmp_path):
    history = {"history": True}
    sweep_dir = sweep(tmp_path, "2026-01-02/03-04-05-000001", dict.fromkeys(range(4), history))
    (sweep_dir / "0" / "metrics.json").write_text('{"status": "completed", "test_a')
    (sweep_dir / "1" / "history.csv").unlink()
    (sweep_dir / "2" / "metrics.json").write_text(json.dumps(["not", "a", "dict"]))
    (sweep_dir / "3" / "stray.bin").write_bytes(b"\x00\xff")
    (sweep_dir / "notes.md").write_text("# my notes\n")
    (sweep_dir / "junk").mkdir()
    (sweep_dir / "junk" / "data.csv").write_text("a,b\n1,2\n")
    report.write_leaderboard(sweep_dir)

    assert [r["status"] for r in rows(sweep_dir)] == [
        "unreadable",
        "below target",
        "unreadable",
        "below target",
    ]
    assert "history.csv is missing" in (sweep_dir / "1" / artifacts.RUN_REPORT).read_text()


def test_report_command_rebuilds_the_leaderboard_and_stale_run_reports(tmp_path, capsys):
    sweep_dir = sweep(tmp_path, "2026-01-02/03-04-05-000001", {0: {"status": "running"}})
    assert main([str(sweep_dir)]) == 0
    assert "running / incomplete" in (sweep_dir / "0" / artifacts.RUN_REPORT).read_text()
    assert str(sweep_dir / artifacts.LEADERBOARD) in capsys.readouterr().out

    metrics = sweep_dir / "0" / "metrics.json"
    finished = json.loads(metrics.read_text()) | {"status": "completed", "test_acc": 0.9951}
    metrics.write_text(json.dumps(finished))
    stamp = (sweep_dir / "0" / artifacts.RUN_REPORT).stat().st_mtime
    os.utime(metrics, (stamp + 1, stamp + 1))
    assert main([str(sweep_dir)]) == 0
    assert "target achieved" in (sweep_dir / "0" / artifacts.RUN_REPORT).read_text()
    assert [r["status"] for r in rows(sweep_dir)] == ["target achieved"]


@pytest.mark.parametrize("kind", ["missing", "empty", "file"])
def test_report_command_on_a_path_without_runs_says_so_in_one_line(tmp_path, capsys, kind):
    path = tmp_path / "nothing"
    if kind == "empty":
        path.mkdir()
        (path / "notes.txt").write_text("no runs here")
    elif kind == "file":
        path.write_text("a file")
    assert main([str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path}" if kind != "empty" else "error: no runs found under")
    assert err.count("\n") == 1


def test_report_command_in_a_subprocess_fails_plainly_without_a_traceback(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "mnist_sweep.report", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.startswith(f"error: {tmp_path / 'nope'} does not exist;")
    assert done.stderr.count("\n") == 1


def test_optuna_trials_of_one_study_merge_across_sweeps_with_trial_numbers(tmp_path):
    def trial(n: int, w1: int) -> dict:
        tags = ["hparams_search=widths", "++search.study=widths", f"++search.trial={n}"]
        return {"overrides": [f"search.w1={w1}", *tags], "trial": n, "val_acc": 0.99}

    sweep(tmp_path, "2026-01-02/03-04-05-000001", {0: trial(0, 8), 1: trial(1, 12)})
    sweep(tmp_path, "2026-01-03/09-00-00-000001", {0: trial(2, 6), 1: trial(3, 10)})
    page = report.write_leaderboard(tmp_path)

    table = rows(tmp_path)
    assert [r["trial"] for r in table] == ["0", "1", "2", "3"]
    assert [r["key_changes"] for r in table] == [f"search.w1={w}" for w in (8, 12, 6, 10)]
    header = tables(page.read_text())["leaderboard"][0]
    assert header[1:4] == ["#", "trial", "report"] and "val acc" in header
    assert page_data(page)["rows"]["name"] == ["trial 0", "trial 1", "trial 2", "trial 3"]


def test_missing_run_reports_are_rebuilt_by_worker_processes_and_only_once(tmp_path):
    sweep_dir = make_runs(tmp_path, 2 * PARALLEL_REPORTS_FROM)  # enough for two workers
    run_dirs = sorted(p for p in sweep_dir.iterdir() if p.is_dir())
    assert write_run_reports(run_dirs) == len(run_dirs)
    assert all((d / artifacts.RUN_REPORT).is_file() for d in run_dirs)
    assert write_run_reports(run_dirs) == 0  # all current now


def test_markup_in_an_override_stays_text_in_the_page_data(tmp_path):
    tricky = "note=</script><!--<b>"
    sweep_dir = sweep(tmp_path, "2026-01-02/03-04-05-000001", {0: {"overrides": [tricky]}})
    page = report.write_leaderboard(sweep_dir, run_reports=False)
    assert page_data(page)["rows"]["changes"] == [[tricky]]
    assert tricky not in page.read_text()


def test_learning_curves_prefer_validation_and_keep_gaps_of_sparse_test_epochs(tmp_path):
    (tmp_path / "history.csv").write_text("epoch,test_acc\n1,\n2,0.97\n3,nan\n")
    assert read_curve(tmp_path) == [None, 0.97, None]
    (tmp_path / "history.csv").write_text("epoch,val_acc,test_acc\n1,0.9,\n2,0.95,0.97\n")
    assert read_curve(tmp_path) == [0.9, 0.95]
    (tmp_path / "history.csv").write_text("epoch,train_acc\n1,0.9\n")
    assert read_curve(tmp_path) is None


HOSTILE_VALUES = [1e308, -1e308, 10**400, -1, 0.5, "abc", "=1+1", " \n", [], {}, True, [{}], None]
RECORD_FIELDS = ["status", "params", "macs", "test_acc", "best_test_acc", "epochs", "epochs_run"]
RECORD_FIELDS += ["seed", "job_num", "trial", "wall_seconds", "overrides", "choices", "budget"]
RECORD_FIELDS += ["started_at", "error", "val_acc", "study", "best_epoch", "extra_key"]


@pytest.mark.parametrize("field", RECORD_FIELDS)
def test_one_bad_field_in_a_run_makes_a_row_with_a_reason_and_the_rest_still_show(tmp_path, field):
    """Each hostile value of ``field`` in a run of its own, beside good runs: one page for all,
    each run a row; a value a run cannot have makes its row unreadable, and says which field."""
    jobs = {n: {"overrides": [f"trainer.seed={n}"]} for n in range(len(HOSTILE_VALUES) + 1)}
    sweep_dir = sweep(tmp_path, "2026-01-02/03-04-05-000001", jobs)
    for n, value in enumerate(HOSTILE_VALUES, 1):
        path = sweep_dir / str(n) / "metrics.json"
        path.write_text(json.dumps(json.loads(path.read_text()) | {field: value}))
    page = report.write_leaderboard(sweep_dir, run_reports=False)
    table = rows(sweep_dir)
    assert [r["job_num"] for r in table] == [str(n) for n in range(len(jobs))]
    assert table[0]["status"] == "below target" and table[0]["detail"] == ""
    for row in table[1:]:
        assert row["status"] in [LEVELS[level] for level in LEVELS]
        if row["status"] == LEVELS["unreadable"]:
            assert field in row["detail"]
    assert len(page_data(page)["rows"]["run"]) == len(jobs)
    for n in (1, 2, 5, 8):
        report.write_run_report(sweep_dir / str(n))


def test_csv_cells_that_a_spreadsheet_would_run_as_formulas_are_escaped(tmp_path):
    hostile = ["=HYPERLINK(1)", "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"]
    jobs = {n: {"overrides": [text]} for n, text in enumerate(hostile)}
    jobs[len(hostile)] = {"status": "failed", "error": "=1+1 cmd"}
    sweep_dir = sweep(tmp_path, "2026-01-02/03-04-05-000001", jobs)
    report.write_leaderboard(sweep_dir, run_reports=False)
    table = list(csv.DictReader((sweep_dir / artifacts.LEADERBOARD_CSV).open(newline="")))
    assert [r["key_changes"] for r in table[: len(hostile)]] == [f"'{t}" for t in hostile]
    assert table[-1]["detail"] == "'=1+1 cmd"
    assert all(not r[c].startswith("'") for r in table for c in ("params", "epochs", "run"))
    assert board.spreadsheet_safe(-1.5) == -1.5 and board.spreadsheet_safe("-1") == "'-1"


def test_runs_from_two_machines_show_their_precision_and_cpu_in_the_table_and_csv(tmp_path):
    jobs = {
        0: {
            "precision": "auto",
            "precision_used": "bf16",
            "cpu": "Xeon",
            "cpu_capability": "AVX512",
        },
        1: {"precision": "auto", "precision_used": "fp32", "cpu": "EPYC", "cpu_capability": "AVX2"},
        2: {"precision_used": "bf16", "gpu": "NVIDIA H200", "cpu": "Xeon"},
        3: {},  # a run that recorded none of it
    }
    sweep_dir = sweep(tmp_path, "2026-01-02/03-04-05-000001", jobs)
    page = report.write_leaderboard(sweep_dir, run_reports=False)
    machines = ["bf16 · Xeon · AVX512", "fp32 · EPYC · AVX2", "bf16 · NVIDIA H200", ""]
    assert page_data(page)["rows"]["machine"] == machines
    table = list(csv.DictReader((sweep_dir / artifacts.LEADERBOARD_CSV).open(newline="")))
    assert [r["machine"] for r in table] == machines


def test_a_metrics_file_nested_too_deep_to_read_is_an_unreadable_row(tmp_path):
    sweep_dir = sweep(tmp_path, "2026-01-02/03-04-05-000001", {0: {}, 1: {}})
    (sweep_dir / "1" / "metrics.json").write_text("[" * 100_000)
    report.write_leaderboard(sweep_dir, run_reports=False)
    good, deep = rows(sweep_dir)
    assert good["status"] == "below target"
    assert deep["status"] == "unreadable" and "metrics.json is unreadable" in deep["detail"]


@pytest.mark.parametrize("env", [{}, {"MNIST_SWEEP_DATA": "/mnist"}])
def test_a_run_config_reads_as_omegaconf_resolves_it_without_omegaconf(tmp_path, monkeypatch, env):
    monkeypatch.delenv("MNIST_SWEEP_DATA", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    text = "data:\n  root: ${oc.env:MNIST_SWEEP_DATA,data}\noptim:\n  lr: 0.3\n"
    text += "sched:\n  max_lr: ${optim.lr}\nmodel:\n  widths: ['${w}', 4]\nw: 8\n"
    (tmp_path / ".hydra").mkdir()
    (tmp_path / ".hydra" / "config.yaml").write_text(text)
    with patch.object(OmegaConf, "create", side_effect=AssertionError("OmegaConf was used")):
        fast = read_config(tmp_path)
    expected = OmegaConf.to_container(OmegaConf.create(text), resolve=True)
    assert fast == expected
    assert fast["data"]["root"] == env.get("MNIST_SWEEP_DATA", "data")


def test_page_data_json_is_strict_with_null_for_nan_and_no_closing_tag():
    def refuse(token: str) -> None:
        raise ValueError(f"{token} is not JSON")

    data = {"acc": [0.99, math.nan, -math.inf], "name": "</script>"}
    text = json_script(data)
    assert json.loads(text, parse_constant=refuse) == data | {"acc": [0.99, None, None]}
    assert "</" not in text
