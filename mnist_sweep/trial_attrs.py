"""The user attributes a study's trials carry, and the study's record of confirmations: their
names, the writers the search and ``confirm`` use, and the readers everyone else uses.

Optuna keeps them in the study's storage, so a page, a benchmark or another machine reads a
search's trials without the process that ran it. A trial carries:

* ``run_dir``: its first job's run folder; ``run_dirs``: with seed repeats, one per seed;
* ``params``: its trainable parameters, counted before it trains; ``refused``: why it never
  trained (over the budget, or an invalid config); ``failed``: why a job that trained did not end;
* ``test_acc``: the mean final-epoch test accuracy of its runs (shown, never searched on);
* ``seed_values``: the objective per seed, ``{seed: value}`` (``[values]`` with several
  objectives), and ``seed_std`` their spread;
* while its jobs run: ``val_acc_seed_<s>``, one seed job's validation accuracies, and
  ``pruned_at_epoch``, the epoch at which a pruner stopped it;
* under successive halving: ``rung``, ``rung_epochs`` (what its rung sets the epochs to) and
  ``promoted_from``, the trial it was promoted from.

Finished trials are read-only, so ``python -m mnist_sweep.confirm`` records on the study:
``confirmed/<trial>``, then ``confirmed/<trial>/2``, ``/3``… for each later confirmation of the
same trial, so a confirmation never replaces an earlier one.

Nothing here imports Optuna: a trial is anything with ``user_attrs`` (and ``set_user_attr`` to
write), a Study or a FrozenTrial alike.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol


class Attributed(Protocol):
    """An Optuna trial or study: what this module reads and writes."""

    @property
    def user_attrs(self) -> dict[str, Any]: ...

    def set_user_attr(self, key: str, value: Any) -> None: ...


RUN_DIR = "run_dir"
RUN_DIRS = "run_dirs"
PARAMS = "params"
REFUSED = "refused"
FAILED = "failed"
TEST_ACC = "test_acc"
SEED_VALUES = "seed_values"
SEED_STD = "seed_std"
PRUNED_AT = "pruned_at_epoch"
SEED_CURVE = "val_acc_seed_"  # + the seed
RUNG = "rung"
RUNG_SIZE = "rung_epochs"
PROMOTED_FROM = "promoted_from"
CONFIRMED = "confirmed/"  # + the trial number, then /2, /3… (a study attribute)


# -- written by the search (search/proposals, outcome, fidelity, monitor, client)


def set_params(trial: Attributed, params: int) -> None:
    trial.set_user_attr(PARAMS, params)


def set_refused(trial: Attributed, why: str) -> None:
    trial.set_user_attr(REFUSED, why)


def set_failed(trial: Attributed, why: str) -> None:
    trial.set_user_attr(FAILED, why)


def set_runs(trial: Attributed, dirs: list[str], repeats: bool) -> None:
    """Its jobs' run folders: the first as ``run_dir``, and all with seed ``repeats``."""
    trial.set_user_attr(RUN_DIR, dirs[0])
    if repeats:
        trial.set_user_attr(RUN_DIRS, dirs)


def set_test_acc(trial: Attributed, acc: float) -> None:
    trial.set_user_attr(TEST_ACC, acc)


def set_seed_values(trial: Attributed, values: dict[str, Any], std: Any) -> None:
    trial.set_user_attr(SEED_VALUES, values)
    trial.set_user_attr(SEED_STD, std)


def set_pruned_at(trial: Attributed, epoch: int) -> None:
    trial.set_user_attr(PRUNED_AT, epoch)


def seed_curve_key(seed: int) -> str:
    """The attribute of one seed job's validation accuracies (written through the storage)."""
    return f"{SEED_CURVE}{seed}"


def clear_job_progress(trial: Attributed) -> None:
    """Forget what a lost job of a re-tried trial reported: its prune decision and seed curves."""
    for key in list(trial.user_attrs):
        if key == PRUNED_AT or key.startswith(SEED_CURVE):
            trial.set_user_attr(key, None)


def set_rung(trial: Attributed, rung: int, size: int) -> None:
    trial.set_user_attr(RUNG, rung)
    trial.set_user_attr(RUNG_SIZE, size)


def promotion(rung: int, number: int) -> dict[str, int]:
    """The attributes of trial ``number``'s promotion to ``rung`` (``enqueue_trial``'s)."""
    return {RUNG: rung, PROMOTED_FROM: number}


# -- read by the search, confirm, report/, scripts and benchmarks


def run_dir(trial: Attributed) -> str | None:
    """Its first job's run folder, as recorded."""
    return trial.user_attrs.get(RUN_DIR)


def run_dirs(trial: Attributed) -> list[Path]:
    """The run folders a trial points to: one per seed repeat, else its one run."""
    dirs = trial.user_attrs.get(RUN_DIRS)
    if not isinstance(dirs, list):
        dirs = [trial.user_attrs.get(RUN_DIR)]
    return [Path(d) for d in dirs if isinstance(d, str)]


def params(trial: Attributed) -> Any:
    """Its trainable parameters (None for a trial that was never counted)."""
    return trial.user_attrs.get(PARAMS)


def was_refused(trial: Attributed) -> bool:
    """Whether it was refused before training (over the budget, or an invalid config)."""
    return REFUSED in trial.user_attrs


def seed_values(trial: Attributed) -> Any:
    """The objective per seed repeat, ``{seed: value or [values]}`` (None without repeats)."""
    return trial.user_attrs.get(SEED_VALUES)


def seed_curve(trial: Attributed, seed: int) -> list[float]:
    """One seed job's validation accuracies so far."""
    return trial.user_attrs.get(seed_curve_key(seed)) or []


def pruned_at(trial: Attributed) -> int | None:
    """The epoch at which a pruner stopped it (None: not pruned)."""
    return trial.user_attrs.get(PRUNED_AT)


def rung(trial: Attributed) -> int | None:
    """The rung it trains on (None in a study without rungs)."""
    value = trial.user_attrs.get(RUNG)
    return value if isinstance(value, int) else None


def rung_size(trial: Attributed) -> int | None:
    """What its rung sets the epochs to."""
    return trial.user_attrs.get(RUNG_SIZE)


def promoted_from(trial: Attributed) -> int | None:
    """The trial it was promoted from (None on the first rung)."""
    return trial.user_attrs.get(PROMOTED_FROM)


# -- confirmations: written by confirm, on the study


def confirmation_key(number: int, k: int) -> str:
    """The study attribute of trial ``number``'s ``k``-th confirmation: ``confirmed/<trial>``,
    then ``confirmed/<trial>/2``, ``/3``…, so a confirmation never replaces an earlier one."""
    return f"{CONFIRMED}{number}" if k == 1 else f"{CONFIRMED}{number}/{k}"


def confirmations(attrs: Mapping[str, Any], number: int) -> list[dict[str, Any]]:
    """Trial ``number``'s confirmation records in a study's user attributes, oldest first."""
    found: list[dict[str, Any]] = []
    while (key := confirmation_key(number, len(found) + 1)) in attrs:
        found.append(attrs[key])
    return found


def latest_confirmation(attrs: Mapping[str, Any], number: int) -> dict[str, Any] | None:
    """Trial ``number``'s latest confirmation record (None: never confirmed)."""
    found = confirmations(attrs, number)
    return found[-1] if found else None


def same_recipe_confirmation(attrs: Mapping[str, Any], number: int) -> dict[str, Any] | None:
    """Trial ``number``'s latest confirmation with every earlier one of the same overrides
    (``set``) merged into it: one recipe's seeds, split over several ``confirm`` processes, read
    as one confirmation (``seeds``, ``test_acc``, ``mean``, ``std``, ``worst``; ``sweeps``: each
    part's folder, ``parts``: the parts). None: never confirmed."""
    found = confirmations(attrs, number)
    if not found:
        return None
    parts = [c for c in found if c.get("set") == found[-1].get("set")]
    pairs = sorted(
        {s: a for c in parts for s, a in zip(c["seeds"], c["test_acc"], strict=True)}.items()
    )
    accs = [a for _, a in pairs]
    return found[-1] | {
        "seeds": [s for s, _ in pairs],
        "test_acc": accs,
        **figures(accs),
        "sweeps": [c["sweep"] for c in parts],
        "parts": parts,
    }


def figures(accs: Sequence[float]) -> dict[str, float | None]:
    """A confirmation's ``mean``, ``std`` (sample; None below two seeds) and ``worst`` of its
    seeds' test accuracies (all None without one)."""
    return {
        "mean": statistics.mean(accs) if accs else None,
        "std": statistics.stdev(accs) if len(accs) > 1 else None,
        "worst": min(accs) if accs else None,
    }


def add_confirmation(study: Attributed, number: int, summary: dict[str, Any]) -> str:
    """Record a confirmation of trial ``number`` after any earlier ones; its key."""
    key = confirmation_key(number, len(confirmations(study.user_attrs, number)) + 1)
    study.set_user_attr(key, summary)
    return key


def every_confirmation(attrs: Mapping[str, Any]) -> list[Any]:
    """Every confirmation record of a study, of every trial, in the storage's order."""
    return [value for key, value in attrs.items() if key.startswith(CONFIRMED)]
