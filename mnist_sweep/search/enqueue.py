"""Start a search from known points: each is enqueued into the study (Optuna's ``enqueue_trial``)
and trained, in order, before the sampler proposes anything.

    python -m mnist_sweep.search.enqueue records \\
        "search.w1=4 search.w2=8 search.w3=8 optim=sgd optim.lr=0.1 sched=step"

A point is one argument of space-separated ``key=value`` pairs, values read as the command line
reads them (``3``, ``1e-4``, ``false``, ``sgd``); a key it leaves out is proposed by the sampler.
Every key must be a parameter of the preset's space and every value inside its range, as the
preset writes it (``conf/hparams_search/PRESET.yaml``). The study is the preset's (``--storage``
and ``--study`` name another) and is created when it does not exist yet. A point that a trial
already has, or waits to train, is skipped; one whose trial failed is enqueued again.
"""

from __future__ import annotations

import argparse
import sys

import optuna
from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf import DictConfig
from optuna.distributions import BaseDistribution
from optuna.trial import TrialState

from mnist_sweep.errors import ConfigError, UserError
from mnist_sweep.groups import CONF, options
from mnist_sweep.search.settings import directions_of
from mnist_sweep.search.space import contains, parse_space, shown
from mnist_sweep.storage import open_storage

KEPT = (TrialState.WAITING, TrialState.RUNNING, TrialState.COMPLETE, TrialState.PRUNED)


def parse_point(text: str, space: dict[str, BaseDistribution]) -> dict[str, object]:
    """One point's values, read as the command line reads them, each checked against its
    distribution in ``space``."""
    parser = OverridesParser.create()
    point: dict[str, object] = {}
    for item in text.split():
        try:
            override = parser.parse_override(item)
        except HydraException:
            raise ConfigError(f"'{item}' in point '{text}' is not key=value") from None
        key, value = override.get_key_element(), override.value()
        if override.is_sweep_override() or override.is_delete():
            raise ConfigError(f"'{item}' in point '{text}' is not one key=value")
        if key not in space:
            known = ", ".join(space)
            raise ConfigError(f"'{key}' is not a parameter of the search; it has: {known}")
        if not contains(space[key], value):
            shown_value = item.partition("=")[2]
            raise ConfigError(
                f"{key}={shown_value} is outside the search's range {shown(space[key])}"
            )
        point[key] = value
    if not point:
        raise ConfigError("a point is empty; give it key=value pairs")
    return point


def taken(study: optuna.Study, point: dict[str, object]) -> bool:
    """Whether a trial that did not fail already has (or waits to train) ``point``'s values: a
    point whose trial failed is enqueued again."""
    for trial in study.get_trials(deepcopy=False, states=KEPT):
        values = trial.system_attrs.get("fixed_params", trial.params)
        if all(k in values and values[k] == v for k, v in point.items()):
            return True
    return False


def preset_sweeper(preset: str) -> DictConfig:
    """The ``hydra.sweeper`` node of ``hparams_search=PRESET``."""
    try:
        with initialize_config_dir(config_dir=str(CONF)):
            cfg = compose("config", [f"hparams_search={preset}"], return_hydra_config=True)
    except HydraException:
        raise ConfigError(
            f"'{preset}' is not a search preset; choose one of "
            f"{', '.join(options('hparams_search'))}"
        ) from None
    return cfg.hydra.sweeper


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mnist_sweep.search.enqueue", description=__doc__.splitlines()[0]
    )
    parser.add_argument("preset", help="the search preset, e.g. records (hparams_search=records)")
    parser.add_argument("points", nargs="+", help="one quoted 'key=value ...' string per point")
    parser.add_argument("--storage", help="the study's storage URL (the preset's)")
    parser.add_argument("--study", help="the study's name (the preset's)")
    args = parser.parse_args(argv)
    try:
        sweeper = preset_sweeper(args.preset)
        space, _, _ = parse_space([f"{k}={v}" for k, v in sweeper.params.items()])
        points = [parse_point(text, space) for text in args.points]
        storage = open_storage(args.storage or sweeper.storage)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    name = args.study or sweeper.study_name
    study = optuna.create_study(
        storage=storage,
        study_name=name,
        directions=directions_of(sweeper.direction),
        load_if_exists=True,
    )
    fresh = [point for point in points if not taken(study, point)]
    for point in fresh:
        study.enqueue_trial(point)
    skipped = f" ({len(points) - len(fresh)} already in it)" if len(fresh) < len(points) else ""
    print(f"{len(fresh)} point(s) enqueued in study '{name}'{skipped}; a search trains them first")
    return 0


if __name__ == "__main__":
    sys.exit(main())
