"""A small real Optuna study, told as the search sweeper tells it, over ``fake_run`` folders."""

from __future__ import annotations

import statistics
from pathlib import Path

import optuna
from optuna.distributions import IntDistribution
from optuna.trial import TrialState

from mnist_sweep import artifacts, trial_attrs
from tests.helpers.runs import SEED_NET, fake_run

SPACE = {f"search.w{i}": IntDistribution(4, 32, step=2) for i in range(1, 5)}
STAMP = "2026-01-02/03-04-05-000001"


def make_study(root: Path, n: int = 12, name: str = "widths", seeds: bool = False) -> str:
    """A study of ``n`` trials in ``root/studies/<name>.db`` with run folders under
    ``root/multirun``, told as the search sweeper tells them: every fifth trial refused (no run),
    every fourth pruned after one of its three epochs; with ``seeds``, every trained trial runs
    once per seed 0, 1, 2 (``run_dirs``, ``seed_values``). Returns the storage URL."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    (root / "studies").mkdir(exist_ok=True)
    url = f"sqlite:///{root / 'studies' / f'{name}.db'}"
    sampler = optuna.samplers.RandomSampler(seed=0)
    study = optuna.create_study(study_name=name, storage=url, direction="maximize", sampler=sampler)
    sweep_dir = root / "multirun" / STAMP
    job = 0
    for number in range(n):
        trial = study.ask(SPACE)
        widths = [trial.params[f"search.w{i}"] for i in (1, 2, 2, 3, 3, 4, 4)]
        model = SEED_NET | {"widths": widths}
        overrides = [f"{k}={v}" for k, v in trial.params.items()]
        overrides += [f"++search.study={name}", f"++search.trial={number}"]
        trial_attrs.set_params(trial, sum(widths) * 40)
        if number % 5 == 4:
            trial_attrs.set_refused(trial, "refused before training: over budget")
            study.tell(trial, state=TrialState.PRUNED)
            continue
        acc = 0.95 + 0.004 * (trial.params["search.w1"] / 4) + 0.0001 * number
        pruned = number % 4 == 3
        epochs = 1 if pruned else 3
        curve = [acc - 0.001 - 0.01 * (3 - e) for e in range(1, epochs + 1)]
        run_dirs, values = [], {}
        for seed in (0, 1, 2) if seeds else (None,):
            run_dir = sweep_dir / str(job)
            shift = 0.001 * (seed - 1) if seeds else 0.0
            fake_run(
                run_dir,
                status="pruned" if pruned else "completed",
                test_acc=acc + shift,
                val_acc=acc - 0.001 + shift,
                overrides=overrides + ([f"trainer.seed={seed}"] if seeds else []),
                model=model,
                job_num=job,
                trial=number,
                study=name,
                seed=seed or 0,
                predictions=False,
            )
            rows = [
                {"epoch": e, "val_acc": v + shift, "test_acc": v} for e, v in enumerate(curve, 1)
            ]
            artifacts.write_history(run_dir / artifacts.HISTORY, rows)
            run_dirs.append(str(run_dir))
            values[str(seed)] = acc - 0.001 + shift
            job += 1
        for step, value in enumerate(curve, 1):
            trial.report(value, step)
        trial_attrs.set_runs(trial, run_dirs, repeats=seeds)
        trial_attrs.set_test_acc(trial, acc)
        if pruned:
            study.tell(trial, state=TrialState.PRUNED)
            continue
        if seeds:
            trial_attrs.set_seed_values(trial, values, statistics.pstdev(values.values()))
        study.tell(trial, acc - 0.001)
    (sweep_dir / "multirun.yaml").write_text("hydra: {}\n")
    return url
