"""``python -m mnist_sweep.confirm STORAGE``: re-train a finished study's best trials on held-out
seeds and report their final-epoch test accuracy.

A search chooses on validation accuracy; this is where its choice meets the test set, once, with
seeds the search never used. Each of the ``--top`` best completed trials is re-trained with its own
config on all 60,000 training images (no validation split) once per ``--seeds`` seed. The runs land
in one sweep folder, ``multirun/<date>/<time>/<job>/``, with its leaderboard; each run's record
names the study and trial it confirms (``study``, ``trial``). The study gets a user attribute per
confirmed trial, ``confirmed/<trial number>`` (Optuna keeps finished trials read-only): seeds,
test accuracy per seed, mean, std, worst and the sweep folder; a later confirmation of the same
trial (other seeds, other ``--set``) adds ``confirmed/<trial number>/2``, ``/3``… (these and the
trial attributes read here are named in ``trial_attrs``).
"""

from __future__ import annotations

import argparse
import gc
import logging
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import optuna
from hydra import compose, initialize_config_dir
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException
from optuna.trial import FrozenTrial, TrialState

from mnist_sweep import checks, claims, report, trial_attrs
from mnist_sweep.config import MAX_TORCH, validate
from mnist_sweep.errors import UserError, exit_status, signal_name, stop_on_signals
from mnist_sweep.formats import pct
from mnist_sweep.groups import CONF
from mnist_sweep.record import COMPLETED, RunRecord
from mnist_sweep.run import execute, group_choices
from mnist_sweep.storage import open_study

log = logging.getLogger("mnist_sweep.confirm")
DEFAULT_SEEDS = (1000, 1001, 1002)
# overrides of a trial's job that a confirmation run replaces or drops
DROPPED = (
    "++search.study=",
    "++search.trial=",
    "trainer.seed=",
    "data.val_size=",
    "data.train_subset=",
)
FULL_DATA = ["data.val_size=0", "data.train_subset=null"]


class ConfirmError(UserError):
    """A storage, study or seed list that cannot be confirmed; the message says why."""


def best_trials(study: optuna.Study, top: int) -> list[FrozenTrial]:
    """The ``top`` best completed trials: by value, or the Pareto front for several objectives
    (ordered by the first one)."""
    done = [t for t in study.get_trials(states=(TrialState.COMPLETE,)) if t.values]
    if not done:
        raise ConfirmError(
            f"study {study.study_name!r} has no completed trial to confirm "
            f"({len(study.trials)} trials, none finished)."
        )
    maximize = study.directions[0] == optuna.study.StudyDirection.MAXIMIZE
    pool = study.best_trials if len(study.directions) > 1 else done
    return sorted(pool, key=lambda t: t.values[0], reverse=maximize)[:top]


def numbered_trials(study: optuna.Study, numbers: list[int]) -> list[FrozenTrial]:
    """The completed trials ``numbers``, in that order."""
    done = {t.number: t for t in study.get_trials(states=(TrialState.COMPLETE,)) if t.values}
    missing = [n for n in numbers if n not in done]
    if missing:
        raise ConfirmError(
            f"--trials {' '.join(map(str, missing))}: no such completed trial in study "
            f"{study.study_name!r} (completed: {', '.join(map(str, sorted(done))) or 'none'})."
        )
    return [done[n] for n in numbers]


def search_seeds(trials: list[FrozenTrial]) -> set[int]:
    """Every training seed the study's trials used: their seed repeats (``seed_values``) and
    the records in their run folders."""
    seeds: set[int] = set()
    for trial in trials:
        seeds.update(int(s) for s in trial_attrs.seed_values(trial) or {})
        for run_dir in trial_attrs.run_dirs(trial):
            try:
                record = RunRecord.read(run_dir)
            except (OSError, ValueError):
                continue
            if record.seed is not None:
                seeds.add(record.seed)
    return seeds


def trial_overrides(trial: FrozenTrial) -> list[str]:
    """The overrides its job ran with, minus bookkeeping, seed and data split."""
    run_dir = trial_attrs.run_dir(trial)
    path = Path(run_dir or "") / ".hydra" / "overrides.yaml"
    if not run_dir or not path.is_file():
        raise ConfirmError(
            f"trial {trial.number} has no readable job overrides ({path}); its run folder was "
            "moved or deleted, so its config cannot be rebuilt."
        )
    return [str(o) for o in OmegaConf.load(path) if not str(o).startswith(DROPPED)]


def compose_run(overrides: list[str]) -> tuple[DictConfig, dict[str, Any]]:
    """conf/ composed with ``overrides`` as the CLI would (without Hydra's own node), and the
    config group options it was composed from."""
    try:
        with initialize_config_dir(config_dir=str(CONF)):
            cfg = compose("config", overrides=overrides, return_hydra_config=True)
    except (HydraException, OmegaConfBaseException) as exc:  # e.g. a misspelt --set key
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ConfirmError(f"the runs' config cannot be composed: {reason}") from None
    choices = group_choices(cfg.hydra.runtime.choices, cfg)
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg, choices


def run_one(overrides: list[str], run_dir: Path, job: int) -> RunRecord:
    """Compose conf/ with ``overrides`` as the CLI would, keep it beside the run, train it."""
    cfg, choices = compose_run(overrides)
    (run_dir / ".hydra").mkdir(parents=True)
    OmegaConf.save(cfg, run_dir / ".hydra" / "config.yaml")
    OmegaConf.save(OmegaConf.create(overrides), run_dir / ".hydra" / "overrides.yaml")
    meta = {"overrides": overrides, "choices": choices, "job_num": job}
    try:
        return execute(cfg, run_dir, meta, on_end=report.run_ended)
    except UserError as exc:  # recorded in the run's metrics.json; the others go on
        log.error("job %d: %s", job, exc)
        return RunRecord.read(run_dir)


def confirm(
    url: str,
    study_name: str | None,
    top: int,
    seeds: list[int],
    extra: list[str],
    out: Path,
    numbers: list[int] | None = None,
) -> list[dict[str, Any]]:
    for seed in seeds:
        checks.number("--seeds", seed, 0, MAX_TORCH, integer=True)
    study = open_study(url, study_name)
    if not seeds or len(set(seeds)) != len(seeds):
        raise ConfirmError(f"--seeds {seeds} must name at least one seed, each once.")
    used = search_seeds(study.trials) & set(seeds)
    if used:
        raise ConfirmError(
            f"--seeds {seeds} overlap the seeds the search trained with ({sorted(used)}); a "
            "confirmation needs seeds that played no part in choosing. Pick others."
        )
    chosen = numbered_trials(study, numbers) if numbers else best_trials(study, top)
    plans = [(t, trial_overrides(t)) for t in chosen]  # every config rebuilt before training
    for _, base in plans:  # and checked: a bad --set is refused before any job starts
        validate(compose_run([*base, *FULL_DATA, f"trainer.seed={seeds[0]}", *extra])[0])
    now = datetime.now()
    sweep = out / now.strftime("%Y-%m-%d") / now.strftime("%H-%M-%S-%f")
    with claims.claimed(sweep, "--out"):
        return _confirm(study, plans, seeds, extra, sweep)


def _confirm(
    study: optuna.Study,
    plans: list[tuple[FrozenTrial, list[str]]],
    seeds: list[int],
    extra: list[str],
    sweep: Path,
) -> list[dict[str, Any]]:
    """Train every plan once per seed into ``sweep``; a trial's confirmation is stored in the
    study from the jobs that completed, and only when one did."""
    log.info(
        "confirming %d trials of %r with seeds %s in %s",
        len(plans),
        study.study_name,
        seeds,
        sweep,
    )
    results, job = [], 0
    try:
        for trial, base in plans:
            tags = [f"++search.study={study.study_name}", f"++search.trial={trial.number}"]
            done: dict[int, float] = {}
            missed: list[str] = []
            try:
                for seed in seeds:
                    overrides = [*base, *FULL_DATA, f"trainer.seed={seed}", *tags, *extra]
                    record = run_one(overrides, sweep / str(job), job)
                    if record.status == COMPLETED and record.test_acc is not None:
                        done[seed] = record.test_acc
                    else:
                        missed.append(f"job {job} (seed {seed}): {record.status}")
                    job += 1
            finally:  # a stopped confirmation still stores the seeds it finished
                results.append(_store(study, trial, done, missed, extra, sweep))
    finally:
        report.write_leaderboard(sweep)
    return results


def _store(
    study: optuna.Study,
    trial: FrozenTrial,
    done: dict[int, float],
    missed: list[str],
    extra: list[str],
    sweep: Path,
) -> dict[str, Any]:
    """A trial's confirmation from its completed seeds (``done``: seed → test accuracy), added to
    the study when there is one."""
    finished = list(done.values())
    summary = {
        "trial": trial.number,
        "value": trial.values[0],
        "params": trial_attrs.params(trial),
        "seeds": list(done),
        "set": extra,
        "test_acc": finished,
        **trial_attrs.figures(finished),
        "sweep": str(sweep.resolve()),
        "incomplete": missed,
    }
    if finished:  # a confirmation holds only what was measured
        trial_attrs.add_confirmation(
            study, trial.number, {k: v for k, v in summary.items() if k != "incomplete"}
        )
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mnist_sweep.confirm",
        description="Re-train the best trials of a study on all training images with held-out "
        "seeds; report final-epoch test accuracy per seed, mean ± std and the worst seed.",
    )
    parser.add_argument("storage", help="the study's storage URL, e.g. sqlite:///studies/arch.db")
    parser.add_argument("--study", help="the study's name (needed when the storage holds several)")
    parser.add_argument("--top", type=int, default=1, help="how many of the best trials (1)")
    parser.add_argument(
        "--trials", type=int, nargs="+", metavar="N", help="these trial numbers instead of --top"
    )
    parser.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=list(DEFAULT_SEEDS),
        help=f"training seeds the search never used ({' '.join(map(str, DEFAULT_SEEDS))})",
    )
    parser.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="overrides for every confirmation run, e.g. trainer.epochs=7",
    )
    parser.add_argument("--out", type=Path, default=Path("multirun"), help="parent of the sweep")
    parser.add_argument(
        "--export",
        action="store_true",
        help="export every completed confirmation run to ONNX fp32 and int8, checked "
        "(python -m mnist_sweep.export; needs the [export] extra)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    if args.top < 1:
        print(f"error: --top {args.top} must be at least 1.", file=sys.stderr)
        return 2
    if args.export:  # refused before hours of training, not after
        from mnist_sweep.export import missing_extra

        if line := missing_extra():
            print(f"error: --export: {line}", file=sys.stderr)
            return 2
    try:
        results = confirm(
            args.storage, args.study, args.top, args.seeds, args.set, args.out, args.trials
        )
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        print(
            f"error: interrupted by {signal_name(exc)}; every finished run keeps its files, and "
            "each trial's completed seeds are stored in the study.",
            file=sys.stderr,
        )
        return exit_status(exc)
    print("| trial | params | search value | test accuracy per seed | mean ± std | worst |")
    print("|---:|---:|---:|---|---:|---:|")
    for r in results:
        per_seed = ", ".join(
            f"{s}: {pct(a, unit='')}" for s, a in zip(r["seeds"], r["test_acc"], strict=True)
        )
        spread = "" if r["std"] is None else f" ± {pct(r['std'], unit='')}"
        print(
            f"| {r['trial']} | {r['params'] or '—'} | {r['value']:.4f} | {per_seed} | "
            f"{pct(r['mean'], unit='')}{spread} | {pct(r['worst'], unit='')} |"
        )
    print(f"runs and leaderboard: {results[0]['sweep']}")
    exported = 0
    if args.export:  # the runs that completed, checked like python -m mnist_sweep.export
        from mnist_sweep.export import Options
        from mnist_sweep.export.__main__ import export_all

        exported = export_all([Path(results[0]["sweep"])], Options())
    missed = [m for r in results for m in r["incomplete"]]
    if missed:
        jobs = sum(len(r["seeds"]) + len(r["incomplete"]) for r in results)
        print(
            f"error: {len(missed)} of {jobs} confirmation jobs did not complete "
            f"({'; '.join(missed)}); only completed jobs are stored in the study.",
            file=sys.stderr,
        )
        return 1
    return exported


if __name__ == "__main__":
    stop_on_signals()
    status = main()
    gc.freeze()  # a quick shutdown, as in mnist_sweep/__main__.py
    sys.exit(status)
