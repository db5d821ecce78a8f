"""Run folders as runs leave them, written without training: ``fake_run`` uses the real
artifact writers with synthetic content; ``sweep`` lays several out as one multirun."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import yaml

from mnist_sweep import artifacts, models

CONF = Path(__file__).resolve().parents[2] / "conf"
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


def sweep(root: Path, stamp: str, jobs: dict[int, dict]) -> Path:
    """A multirun sweep directory ``root/<date>/<time>`` with ``fake_run`` jobs by number.

    Jobs have no history or predictions unless asked: their run reports are quicker to build.
    """
    sweep_dir = root / stamp
    sweep_dir.mkdir(parents=True)
    (sweep_dir / "multirun.yaml").write_text("hydra: {}\n")
    for num, kwargs in jobs.items():
        fake_run(
            sweep_dir / str(num), job_num=num, **{"history": False, "predictions": False} | kwargs
        )
    return sweep_dir
