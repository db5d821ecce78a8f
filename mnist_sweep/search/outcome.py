"""How trials end: the jobs' returns and records told to the study, and at the end of a search
``optimization_results.yaml`` with the best trial (or the Pareto front) and a command that re-runs
it as a plain run on the full training set."""

from __future__ import annotations

import logging
import shlex
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import optuna
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.utils import JobReturn, JobStatus
from hydra.types import HydraContext, RunMode
from omegaconf import DictConfig, OmegaConf
from optuna.trial import FrozenTrial, Trial, TrialState

from mnist_sweep import artifacts, trial_attrs
from mnist_sweep.record import COMPLETED, PRUNED, RunRecord
from mnist_sweep.search.client import StudyClient
from mnist_sweep.search.space import Space, as_override

log = logging.getLogger(__name__)
RESULTS = "optimization_results.yaml"


class Outcomes:
    """Tells the study how each trial's jobs (one per seed) ended; adds up their wall time."""

    def __init__(self, seeds: list[int] | None, objectives: list[str] | None) -> None:
        self.seeds, self.objectives = seeds, objectives
        self.busy_seconds = 0.0  # the jobs' wall time (the log's busy share of the slots)

    def tell(
        self,
        client: StudyClient,
        trial: Trial,
        rets: Sequence[JobReturn],
        seeds: Sequence[int | None],
    ) -> bool:
        """Tell the study how a trial's jobs ended (one per seed of ``seeds``); False if a job
        raised (not a refused, failed or pruned run, which returns None and says why in its
        metrics.json)."""
        finish = client.tell
        records: list[RunRecord | None] = []
        dirs = []
        for ret in rets:
            record = None
            if ret.hydra_cfg is not None:
                run_dir = Path(ret.hydra_cfg.hydra.runtime.output_dir)
                dirs.append(str(run_dir))
                if (run_dir / artifacts.METRICS).exists():
                    record = RunRecord.read(run_dir)
            records.append(record)
            self.busy_seconds += record.wall_seconds or 0.0 if record else 0.0
        if dirs:
            trial_attrs.set_runs(trial, dirs, repeats=bool(self.seeds))
        test = [r.test_acc for r in records if r and r.test_acc is not None]
        if test:
            trial_attrs.set_test_acc(trial, statistics.fmean(test))
        if any(ret.status != JobStatus.COMPLETED for ret in rets):
            finish(trial, state=TrialState.FAIL)
            return False
        if any(r and r.status == PRUNED for r in records):
            at = [r.epochs_run for r in records if r and r.status == PRUNED]
            trial_attrs.set_pruned_at(trial, min(at))
            log.info("Trial %d pruned after epoch %d", trial.number, min(at))
            finish(trial, state=TrialState.PRUNED)
            return True
        values = [ret.return_value for ret in rets]
        if any(v is None for v in values):
            bad = next((r for r in records if not r or r.status != COMPLETED), None)
            reason = bad.error if bad and bad.error else "see its metrics.json"
            trial_attrs.set_failed(trial, f"{bad.status if bad else 'failed'}: {reason}")
            log.warning("Trial %d did not finish: %s", trial.number, reason)
            finish(trial, state=TrialState.FAIL)
            return True
        per_seed = [[float(v) for v in (value if self.objectives else [value])] for value in values]
        mean = [statistics.fmean(column) for column in zip(*per_seed, strict=True)]
        if self.seeds:
            std = [statistics.pstdev(column) for column in zip(*per_seed, strict=True)]
            shown = per_seed if self.objectives else [v for (v,) in per_seed]
            values = dict(zip(map(str, seeds), shown, strict=True))
            trial_attrs.set_seed_values(trial, values, std if self.objectives else std[0])
        finish(trial, values=mean)
        return True


def recipe_overrides(
    context: HydraContext, config: DictConfig, space: Space, keys: Sequence[str]
) -> list[str]:
    """``key=value`` for each ``hydra.sweeper.rerun_from_recipe`` key, as the default recipe
    has it: the config composed with the same group choices, minus the search preset and any
    value overrides."""
    choices = config.hydra.runtime.choices
    parser = OverridesParser.create()
    groups = [
        o.input_line
        for o in parser.parse_overrides([f"{k}={v}" for k, v in space.fixed.items()])
        if o.key_or_group in choices and o.key_or_group != "hparams_search"
    ]
    recipe = context.config_loader.load_configuration(
        config.hydra.job.config_name, groups, RunMode.RUN
    )
    return [f"{k}={as_override(OmegaConf.select(recipe, k))}" for k in keys]


def rerun_command(
    trial: FrozenTrial,
    space: Space,
    recipe: list[str],
    context: HydraContext,
    config: DictConfig,
) -> str:
    """A plain run that trains the trial's model, runnable as printed: no ``-m`` and no search
    preset, so each value the trial's job had beyond the default config is spelt out (group
    options, then keys), and the ``recipe`` keys take the default recipe's values."""
    loader = context.config_loader
    job = loader.load_sweep_config(config, space.overrides(trial.params))
    plain = loader.load_configuration(config.hydra.job.config_name, [], RunMode.RUN)
    defaults = plain.hydra.runtime.choices
    groups = [  # the config groups Hydra names (a list group such as aug shows in the keys)
        f"{group}={choice}"
        for group, choice in job.hydra.runtime.choices.items()
        if choice is not None
        and choice != defaults.get(group)
        and not group.startswith("hydra")
        and group != "hparams_search"
    ]
    base = loader.load_configuration(config.hydra.job.config_name, [*groups, *recipe], RunMode.RUN)
    reset = {o.split("=", 1)[0] for o in recipe}
    ran, would = _leaves(job), _leaves(base)
    keys = [
        f"{'' if k in would else '+'}{k}={as_override(v)}"
        for k, v in ran.items()
        if k not in reset and would.get(k, _MISSING) != v
    ]
    keys += [f"~{k}" for k in would if k not in ran and k not in reset]
    return shlex.join(["python", "-m", "mnist_sweep", *groups, *keys, *recipe])


_MISSING = object()
NOT_RERUN = ("hydra", "search")  # Hydra's own node; the search's bookkeeping and parameters


def _leaves(cfg: DictConfig) -> dict[str, Any]:
    """Every value of a config but Hydra's node and the search's, resolved, by its dotted key
    (a list is one value)."""
    node = {}
    for key in cfg:  # each node resolved where it stands (some read Hydra's node)
        if key not in NOT_RERUN:
            value = cfg[key]
            node[key] = (
                OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value
            )
    out: dict[str, Any] = {}

    def walk(value: Any, key: str) -> None:
        if isinstance(value, dict) and value:
            for k, v in value.items():
                walk(v, f"{key}.{k}" if key else str(k))
        else:
            out[key] = value

    walk(node, "")
    return out


def write_results(
    study: optuna.Study, sweep_dir: Path, rerun: Callable[[FrozenTrial], str]
) -> None:
    """``optimization_results.yaml`` in ``sweep_dir``: the best trial, or the Pareto front."""
    results: dict[str, Any] = {"name": "optuna", "study": study.study_name}
    if len(study.directions) == 1:
        try:
            best = study.best_trial
        except ValueError:
            log.warning("No trial of study %r has completed; no best trial", study.study_name)
            return
        results |= {
            "best_params": best.params,
            "best_value": best.value,
            "best_trial": best.number,
            "rerun": rerun(best),
        }
        log.info("Best trial %d: value %s, params %s", best.number, best.value, best.params)
        log.info("Re-run it on the full training set: %s", results["rerun"])
    else:
        results["solutions"] = [
            {"params": t.params, "values": t.values, "trial": t.number, "rerun": rerun(t)}
            for t in study.best_trials
        ]
        log.info("Pareto front: %d trials", len(results["solutions"]))
        for s in results["solutions"]:
            log.info("  values %s, params %s: %s", s["values"], s["params"], s["rerun"])
    path = sweep_dir / RESULTS
    path.parent.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(OmegaConf.create(results), path)
