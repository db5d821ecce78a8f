"""A synthetic sweep for the report's scale tests and measurements: N job folders laid out as a
Hydra multirun of an Optuna width search leaves them, written directly (no training, no torch).

    python -m tests.helpers.synthetic multirun-synthetic 10000
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

STAMP = "2026-01-02/03-04-05-000001"
CONFIG = """\
search:
  w1: 8
  w2: 16
  w3: 16
  w4: 16
  study: widths
  trial: {trial}
model:
  _target_: mnist_sweep.models.build
  layout: lean
  widths: ['${{search.w1}}', '${{search.w2}}', '${{search.w2}}', '${{search.w3}}', \
'${{search.w3}}', '${{search.w4}}']
  pool_before_bn: true
data:
  root: ${{oc.env:MNIST_SWEEP_DATA,data}}
  val_size: 10000
  train_subset: 50000
trainer:
  epochs: {epochs}
  batch_size: 256
  seed: 0
optim:
  name: sgd
  lr: 0.3
  momentum: 0.9
sched:
  name: onecycle
  max_lr: ${{optim.lr}}
budget:
  max_params: 20000
  max_epochs: 20
  target_acc: 0.994
"""


def make_runs(
    root: Path, n: int, *, epochs: int = 4, seed: int = 0, config: str | None = None
) -> Path:
    """``root/<date>/<time>`` with ``n`` jobs: about one in eight pruned after one or two epochs,
    one in twenty refused over budget; returns the sweep folder. ``config``: the text of every
    job's ``.hydra/config.yaml`` (e.g. a real run's), instead of a small synthetic one."""
    rng = random.Random(seed)
    sweep = root / STAMP
    sweep.mkdir(parents=True)
    (sweep / "multirun.yaml").write_text("hydra: {}\n")
    for num in range(n):
        widths = {f"search.w{i}": rng.randrange(4, 33, 2) for i in range(1, 5)}
        overrides = [f"{k}={v}" for k, v in widths.items()]
        overrides += ["++search.study=widths", f"++search.trial={num}"]
        run = sweep / str(num)
        (run / ".hydra").mkdir(parents=True)
        text = config if config is not None else CONFIG.format(trial=num, epochs=epochs)
        (run / ".hydra" / "config.yaml").write_text(text)
        (run / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
        params = 2000 + 18 * sum(widths.values()) * 12
        fate = rng.random()
        record = {
            "status": "completed",
            "started_at": "2026-01-02T03:04:05",
            "overrides": overrides,
            "job_num": num,
            "study": "widths",
            "trial": num,
            "budget": {"max_params": 20000, "max_epochs": 20, "target_acc": 0.994},
            "params": params,
            "epochs": epochs,
            "seed": 0,
        }
        if fate < 0.05:
            record |= {"status": "over_budget", "error": "refused before training: too big"}
        else:
            ran = rng.randint(1, 2) if fate < 0.18 else epochs
            top = 0.985 + 0.01 * rng.random()
            rows = [
                (e, top - 0.02 / e, top - 0.018 / e + 0.001 * rng.random(), 0.3 / e, 2.0)
                for e in range(1, ran + 1)
            ]
            (run / "history.csv").write_text(
                "epoch,train_acc,val_acc,test_acc,lr,seconds\n"
                + "".join(
                    f"{e},{t:.4f},{v:.4f},{v + 0.0005:.4f},{lr:.4f},{s}\n"
                    for e, t, v, lr, s in rows
                )
            )
            last = rows[-1]
            record |= {
                "epochs_run": ran,
                "val_acc": last[2],
                "test_acc": last[2] + 0.0005,
                "best_test_acc": max(r[2] for r in rows) + 0.0005,
                "best_epoch": ran,
                "wall_seconds": 2.5 * ran,
                "train_seconds": 2.0 * ran,
            }
            if ran < epochs:
                record |= {"status": "pruned", "error": f"pruned after epoch {ran}"}
        (run / "metrics.json").write_text(json.dumps(record))
    return sweep


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("n", type=int)
    args = parser.parse_args()
    print(make_runs(args.root, args.n))


if __name__ == "__main__":
    main()
