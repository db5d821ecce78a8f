"""The run record: strict JSON, tolerant reading, and a run judged by its own budget."""

from __future__ import annotations

import json
import math
from dataclasses import asdict

import pytest

from mnist_sweep import artifacts
from mnist_sweep.errors import BudgetError
from mnist_sweep.record import (
    COMPLETED,
    DEFAULT_BUDGET,
    DIVERGED,
    LEVELS,
    NUMERIC,
    Budget,
    RunRecord,
)


def strict_json(text: str) -> object:
    """Parse JSON as a strict reader (jq, JSON.parse) does: NaN and Infinity are errors."""

    def refuse(token: str) -> None:
        raise ValueError(f"{token} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_non_finite_numbers_are_written_as_null(tmp_path):
    RunRecord(status=DIVERGED, test_loss=math.nan, train_seconds=math.inf).write(tmp_path)
    metrics = strict_json((tmp_path / artifacts.METRICS).read_text())
    assert metrics["test_loss"] is None and metrics["train_seconds"] is None
    artifacts.write_json(tmp_path / "x.json", {"a": [1.0, -math.inf, {"b": math.nan}]})
    assert strict_json((tmp_path / "x.json").read_text()) == {"a": [1.0, None, {"b": None}]}


def test_reading_drops_values_of_the_wrong_type_names_them_and_keeps_unknown_keys():
    record = RunRecord.from_dict(
        {"status": COMPLETED, "test_acc": "high", "params": [1], "epochs": 7, "new_field": 3}
    )
    assert record.test_acc is None and record.params is None and record.epochs == 7
    assert record.extra == {"test_acc": "high", "params": [1], "new_field": 3}
    assert record.rejected() == ["test_acc", "params"] and record.level() == "unreadable"
    out_of_range = {"status": COMPLETED, "test_acc": 1.5, "params": 1e308, "epochs": -1}
    assert RunRecord.from_dict(out_of_range).rejected() == ["test_acc", "params", "epochs"]
    assert RunRecord.from_dict({"status": COMPLETED, "test_loss": float("nan")}).rejected() == []
    assert {"test_acc", "params", "epochs_run", "wall_seconds"} <= set(NUMERIC)


def test_the_default_budget_comes_from_the_budget_config_group():
    assert Budget(max_params=20_000, max_epochs=20, target_acc=0.994) == DEFAULT_BUDGET
    assert DEFAULT_BUDGET.max_macs is None  # no limit on multiply-adds unless asked


def test_a_model_over_the_multiply_add_budget_is_refused_and_never_judged_on_target():
    limits = {"max_params": 20_000, "max_epochs": 20, "target_acc": 0.99}
    budget = Budget.of(limits | {"max_macs": 1e6})  # as budget.max_macs=1e6 reads: a float
    budget.check(15_000, 7, 999_999)
    budget.check(15_000, 7)  # a caller that counts no multiply-adds: nothing to hold
    with pytest.raises(BudgetError) as refused:
        budget.check(15_000, 7, 1_000_001)
    assert "1,000,001 multiply-adds per image" in str(refused.value)
    assert "budget.max_macs=1,000,000;" in str(refused.value)
    done = {"status": COMPLETED, "test_acc": 0.995, "params": 15_000, "epochs": 7}
    judged = done | {"budget": asdict(budget)}
    assert RunRecord.from_dict(judged | {"macs": 999_999}).level() == "target"
    assert RunRecord.from_dict(judged | {"macs": 1_000_001}).level() == "below"
    assert Budget.of({"max_macs": "lots"}).max_macs is None  # a broken value: the default's


def test_a_run_is_judged_by_its_own_budget():
    done = {"status": COMPLETED, "test_acc": 0.995, "params": 15_000, "epochs": 25}
    assert RunRecord.from_dict(done).level() == "below"  # default: at most 20 epochs
    roomy = {"max_params": 20_000, "max_epochs": 30, "target_acc": 0.994}
    assert RunRecord.from_dict(done | {"budget": roomy}).level() == "target"
    strict = {"max_params": 10_000, "max_epochs": 30, "target_acc": 0.994}
    assert RunRecord.from_dict(done | {"budget": strict}).level() == "below"
    higher = {"max_params": 20_000, "max_epochs": 30, "target_acc": 0.996}
    assert RunRecord.from_dict(done | {"budget": higher}).level() == "below"
    unlimited = {"max_params": None, "max_epochs": None, "target_acc": 0.99}
    assert RunRecord.from_dict(done | {"params": 10**6, "budget": unlimited}).level() == "target"


@pytest.mark.parametrize("status", ["diverged", "pruned", "failed", "over_budget", "running"])
def test_every_way_a_run_ends_has_its_own_level(status):
    record = RunRecord(status=status)
    assert record.level() == status and status in LEVELS
    assert record.objective() is None
    assert RunRecord(status="exploded").level() == "unreadable"


def test_a_record_round_trips_through_metrics_json(tmp_path):
    record = RunRecord(status=COMPLETED, params=10, test_acc=0.99, overrides=["a=1"], seed=3)
    record.budget = asdict(DEFAULT_BUDGET)
    record.write(tmp_path)
    assert RunRecord.read(tmp_path) == record
    assert record.objective() == 0.99 and record.objectives(["params"]) == [10]
