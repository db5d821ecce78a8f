"""The study view of an Optuna sweep, read only through Optuna's public API.

A study comes from a storage URL (``python -m mnist_sweep.report sqlite:///studies/widths.db``)
or from the ``.hydra/hydra.yaml`` of one of its trials' run folders. Trials point to their run
folders with the user attributes ``run_dir`` and, for seed repeats, ``run_dirs`` (``params``: the
parameter count; ``seed_values``: the objective per seed), read through ``trial_attrs``; runs the
table holds are linked.
"""

from __future__ import annotations

import logging
import math
import statistics
import warnings
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
from omegaconf import OmegaConf
from optuna.importance import PedAnovaImportanceEvaluator, get_param_importances
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy.engine import make_url

from mnist_sweep import artifacts, storage, trial_attrs
from mnist_sweep.checks import is_number
from mnist_sweep.record import FINISHED
from mnist_sweep.report import study_charts
from mnist_sweep.storage import StudyError, open_study

# Optuna's PED-ANOVA needs only numpy (fANOVA and mean decrease impurity need scikit-learn): how
# much each parameter matters for a trial to land in the best 10 % (the evaluator's default).
EVALUATOR = (
    "PED-ANOVA (optuna.importance.PedAnovaImportanceEvaluator): how much each parameter decides "
    "whether a trial lands in the best 10 %"
)
log = logging.getLogger(__name__)


def _from(url: str, cwd: str | None) -> str:
    """``url`` with a relative SQLite or journal path taken from the launch folder ``cwd``."""
    if not cwd:
        return url
    if url.startswith(storage.JOURNAL):
        return storage.JOURNAL + str(Path(cwd) / url[len(storage.JOURNAL) :])
    try:
        parsed = make_url(url)
    except Exception:  # open_study says what is wrong with it
        return url
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return url
    database = str(Path(cwd) / parsed.database)  # an absolute path stays as it is
    return parsed.set(database=database).render_as_string(hide_password=False)


# the studies this process opened, by the hydra.yaml that named them and its modification time:
# a live leaderboard, rewritten at every job end, opens its study once
_OPENED: dict[tuple[Path, int], optuna.Study] = {}


def sweep_study(run_dir: Path) -> optuna.Study | None:
    """The study a trial's run folder names in ``.hydra/hydra.yaml`` (storage, study name and
    launch folder), when its storage can be opened; None otherwise."""
    path = run_dir / artifacts.HYDRA_SETTINGS
    try:
        key = (path.resolve(), path.stat().st_mtime_ns)
    except OSError:
        return None
    if key in _OPENED:
        return _OPENED[key]
    try:
        cfg = OmegaConf.load(path)
        url = OmegaConf.select(cfg, "hydra.sweeper.storage", default=None)
        name = OmegaConf.select(cfg, "hydra.sweeper.study_name", default=None)
        cwd = OmegaConf.select(cfg, "hydra.runtime.cwd", default=None)
    except Exception:  # not an Optuna sweep, or a hydra.yaml we cannot read
        return None
    if not url or not name:
        return None
    try:
        _OPENED[key] = open_study(_from(str(url), cwd), name)
    except StudyError as exc:
        log.info("no study view for %s: %s", run_dir.parent, exc)
        return None
    return _OPENED[key]


def _kind(trial: FrozenTrial) -> str:
    """complete, pruned, refused (never trained: over budget or invalid), failed or running."""
    if trial_attrs.was_refused(trial):
        return "refused"
    return {
        TrialState.COMPLETE: "complete",
        TrialState.PRUNED: "pruned",
        TrialState.FAIL: "failed",
    }.get(trial.state, "running")


def _reached(trial: FrozenTrial) -> float | None:
    """A pruned trial's last reported (intermediate) value."""
    steps = trial.intermediate_values
    return steps[max(steps)] if steps else None


def _number(value: Any) -> float | None:
    return float(value) if is_number(value) and math.isfinite(value) else None


def _seed_values(trial: FrozenTrial) -> list[float]:
    """The first objective of each seed repeat (``seed_values``: {seed: value or [values]})."""
    found = trial_attrs.seed_values(trial)
    values = found.values() if isinstance(found, dict) else found if isinstance(found, list) else []
    firsts = (v[0] if isinstance(v, list) and v else v for v in values)
    return [x for x in map(_number, firsts) if x is not None]


def _importances(study: optuna.Study, multi: bool, params: list[str]) -> dict[str, Any]:
    """PED-ANOVA importances of the searched parameters for the objective and for a small
    parameter count, each [(name, share)] largest first; a line saying why when they cannot be
    computed."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    out: dict[str, Any] = {"objective": [], "params": [], "note": ""}
    if len(complete) < 2 or not params:
        out["note"] = "needs two or more completed trials of a search with parameters."
        return out
    sign = -1.0 if study.directions[0] == StudyDirection.MAXIMIZE else 1.0
    targets = {  # the evaluator ranks low target values best
        "objective": (lambda t: sign * t.values[0]) if multi else None,
        "params": lambda t: float(trial_attrs.params(t)),
    }
    if any(_number(trial_attrs.params(t)) is None for t in complete):
        del targets["params"]
    for key, target in targets.items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "computes the importances ... low values"
                found = get_param_importances(
                    study, evaluator=PedAnovaImportanceEvaluator(), target=target
                )
        except Exception as exc:  # e.g. every trial with the same value: say so, keep the page
            out["note"] = f"{key}: {type(exc).__name__}: {exc}"
            continue
        out[key] = [[name, float(share)] for name, share in found.items()]
    return out


def confirmed(study: optuna.Study) -> list[dict[str, Any]]:
    """What ``python -m mnist_sweep.confirm`` recorded (user attributes ``confirmed/<trial>``),
    smallest model first, each marked on the front when no smaller confirmed model has a mean
    as high."""
    found = [
        v
        for v in trial_attrs.every_confirmation(study.user_attrs)
        if isinstance(v, dict) and _number(v.get("mean"))
    ]
    found.sort(key=lambda c: (_number(c.get("params")) or math.inf, -c["mean"]))
    best = -math.inf
    for c in found:
        c["front"] = c["mean"] > best
        best = max(best, c["mean"])
        c["per_seed"] = list(zip(c.get("seeds") or [], c.get("test_acc") or [], strict=False))
    return found


def rungs(trials: list[FrozenTrial]) -> list[dict[str, Any]]:
    """The rungs of a multi-fidelity study (user attributes ``rung``, ``rung_epochs``,
    ``promoted_from``), lowest first: each with its epochs and its trials as [number, promoted
    from]; empty for a study without rungs."""
    found: dict[int, dict[str, Any]] = {}
    for t in trials:
        rung = trial_attrs.rung(t)
        if rung is None:
            continue
        entry = found.setdefault(
            rung, {"rung": rung, "epochs": trial_attrs.rung_size(t), "trials": []}
        )
        entry["trials"].append([t.number, trial_attrs.promoted_from(t)])
    return [found[r] for r in sorted(found)]


def cost_points(table: pd.DataFrame) -> pd.DataFrame:
    """The accuracy–compute front's points: every trial's run that trained to its end, with its
    validation accuracy and the multiply-adds of its training (``trial``, ``val_acc``,
    ``train_macs``)."""
    columns = ["trial", "val_acc", "train_macs"]
    if not len(table) or not set(columns) <= set(table.columns):
        return pd.DataFrame(columns=columns)
    done = table[table["level"].isin(FINISHED)].dropna(subset=columns)
    return done[columns].reset_index(drop=True)


def study_view(study: optuna.Study, table: pd.DataFrame, objective: str) -> dict[str, Any]:
    """What the page's study section shows, as plain data (JSON) plus the static charts.

    ``table`` is the leaderboard's: each trial lists the rows of its run folders (``rows``).
    """
    trials = study.get_trials(deepcopy=False)
    multi = len(study.directions) > 1
    rows = {Path(d).resolve(): i for i, d in enumerate(table["run_dir"])} if len(table) else {}
    names = list(dict.fromkeys(name for t in trials for name in t.params))
    out_trials = []
    for t in trials:
        kind = _kind(t)
        value = t.values[0] if t.values else (_reached(t) if kind == "pruned" else None)
        seeds = _seed_values(t)
        out_trials.append(
            {
                "number": t.number,
                "kind": kind,
                "value": _number(value),
                "params_count": _number(trial_attrs.params(t)),
                "p": [t.params.get(n) for n in names],
                "rows": [rows[d] for d in map(Path.resolve, trial_attrs.run_dirs(t)) if d in rows],
                "seed_mean": statistics.fmean(seeds) if len(seeds) > 1 else None,
                "seed_std": statistics.pstdev(seeds) if len(seeds) > 1 else None,
                "n_seeds": len(seeds),
            }
        )
    kinds = [t["kind"] for t in out_trials]
    history = pd.DataFrame(out_trials) if out_trials else pd.DataFrame()
    return {
        "name": study.study_name,
        "directions": [d.name.lower() for d in study.directions],
        "objective": objective,
        "params": names,
        "categorical": [
            not all(_number(t["p"][i]) is not None for t in out_trials if t["p"][i] is not None)
            for i in range(len(names))
        ],
        "trials": out_trials,
        "counts": {k: kinds.count(k) for k in dict.fromkeys(kinds)},
        "importance": _importances(study, multi, names),
        "confirmed": confirmed(study),
        "rungs": rungs(trials),
        "evaluator": EVALUATOR,
        "history_chart": study_charts.history(history, objective, study.directions[0].name.lower())
        if len(history)
        else "",
        "cost_chart": study_charts.cost_front(cost_points(table)),
        "seeds_chart": study_charts.seed_front(history, objective, study.directions[0].name.lower())
        if len(history) and history["n_seeds"].gt(1).any()
        else "",
    }
