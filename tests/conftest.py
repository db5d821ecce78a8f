"""Shared fixtures: the verified MNIST files, Hydra composition, and CLI runs in a subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import optuna
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from mnist_sweep.data import ensure_mnist

REPO = Path(__file__).resolve().parents[1]
CONF = REPO / "conf"
# Tests share the data folder a user's runs use (prepared once, verified by MD5 on every use).
DATA_ROOT = Path(os.environ.get("MNIST_SWEEP_DATA", REPO / "data")).resolve()
# The precision probe's cache (device.precision=auto) for every run of the suite, subprocesses
# too: measured once per machine like a user's, but kept out of the user's own cache folder.
os.environ.setdefault("MNIST_SWEEP_CACHE", str(REPO / ".pytest_cache" / "mnist_sweep"))
# A run small enough for a test: a slice of the training images, one epoch, one thread; batches
# of 128 keep eight steps, enough for the default one-cycle schedule's warm-up and decay.
QUICK = [
    "data.train_subset=1024",
    "trainer.epochs=1",
    "trainer.batch_size=128",
    "device=cpu",
    "device.threads=1",
]
# QUICK on a 512-image slice; batches of 64 keep eight steps an epoch for the one-cycle schedule.
# A search trial's run small enough for a test: a slice with a validation split, one epoch.
SLICE = [
    "data.train_subset=320",
    "data.val_size=500",
    "trainer.epochs=1",
    "trainer.batch_size=64",
    "device=cpu",
    "device.threads=1",
]
TINY = [o for o in QUICK if not o.startswith(("data.train_subset=", "trainer.batch_size="))] + [
    "data.train_subset=512",
    "trainer.batch_size=64",
]

# a pruner that stops every trial after its first epoch, so a test knows what to expect
PRUNE_ALL = [
    "hydra.sweeper.pruner._target_=optuna.pruners.ThresholdPruner",
    "++hydra.sweeper.pruner.lower=1.0",
    "trainer.epochs=2",
]


def trial_metrics(trial: optuna.trial.FrozenTrial) -> dict:
    """The ``metrics.json`` of the run a trial points to (user attribute ``run_dir``)."""
    return json.loads((Path(trial.user_attrs["run_dir"]) / "metrics.json").read_text())


def sweep_dirs(root: Path) -> list[Path]:
    """The sweep folders (``multirun/<date>/<time>``) of multiruns launched from ``root``."""
    return sorted(p.parent for p in root.glob("multirun/*/*/multirun.yaml"))


@pytest.fixture(scope="session")
def mnist_root() -> Path:
    ensure_mnist(DATA_ROOT)
    return DATA_ROOT


@pytest.fixture()
def make_cfg(mnist_root: Path) -> Callable[..., DictConfig]:
    """Compose conf/ like the CLI would, with ``overrides``; returns the config."""

    def _compose(*overrides: str) -> DictConfig:
        with initialize_config_dir(config_dir=str(CONF)):
            return compose("config", overrides=[f"data.root={mnist_root}", *overrides])

    return _compose


def run_module(
    module: str, *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess:
    """``python -m MODULE ARGS`` in ``cwd`` with the shared MNIST folder, output captured."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        env={**os.environ, "MNIST_SWEEP_DATA": str(DATA_ROOT), **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start(command: list[str], cwd: Path, stderr: int = subprocess.PIPE) -> subprocess.Popen:
    """``python -m mnist_sweep COMMAND`` started in ``cwd`` with the shared MNIST folder, its
    output captured as text (``stderr=subprocess.STDOUT``: both in one stream)."""
    env = {**os.environ, "MNIST_SWEEP_DATA": str(DATA_ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "mnist_sweep", *command],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
    )


def run_together(command: list[str], cwd: Path, n: int = 2) -> list[str]:
    """Start ``python -m mnist_sweep COMMAND`` ``n`` times at once; all must succeed. Returns
    their outputs."""
    procs = [start(command, cwd, stderr=subprocess.STDOUT) for _ in range(n)]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0] * n, "\n".join(o[-2000:] for o in outputs)
    return outputs


def kill_while_training(command: list[str], cwd: Path) -> None:
    """Start ``python -m mnist_sweep COMMAND`` and ``kill -9`` it while its first job trains."""
    env = {**os.environ, "MNIST_SWEEP_DATA": str(DATA_ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "mnist_sweep", *command],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        runs = list(cwd.glob("multirun/*/*/0/metrics.json"))
        if runs and json.loads(runs[0].read_text() or "{}").get("status") == "running":
            break
        time.sleep(0.2)
    assert proc.poll() is None, "the search ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def signal_after_epoch(
    command: list[str], cwd: Path, metrics: str, signum: int, module: str = "mnist_sweep"
) -> subprocess.CompletedProcess:
    """Start ``python -m MODULE COMMAND``, send it ``signum`` once the run whose
    ``metrics.json`` matches the glob ``metrics`` has finished an epoch, and wait for it."""
    env = {**os.environ, "MNIST_SWEEP_DATA": str(DATA_ROOT)}
    args = [sys.executable, "-m", module, *command]
    proc = subprocess.Popen(
        args,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        # a shell's background job ignores SIGINT, and a child inherits that: give it back the
        # disposition a user's foreground run has
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        found = list(cwd.glob(metrics))
        if found and (json.loads(found[0].read_text() or "{}").get("epochs_run") or 0) >= 1:
            break
        time.sleep(0.1)
    assert proc.poll() is None, "the run ended before it could be stopped"
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(args, proc.returncode, out.decode(), err.decode())


@pytest.fixture()
def cli(mnist_root: Path, tmp_path: Path) -> Callable[..., subprocess.CompletedProcess]:
    """Run ``python -m mnist_sweep ARGS`` in a subprocess with outputs under ``tmp_path``."""

    def _run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return run_module("mnist_sweep", *args, cwd=tmp_path, timeout=timeout)

    return _run


def compose_search(preset: str, *overrides: str, hydra: bool = False) -> DictConfig:
    """The config of ``hparams_search=PRESET`` with ``overrides``, as a trial would compose it."""
    with initialize_config_dir(config_dir=str(CONF)):
        return compose(
            "config", overrides=[f"hparams_search={preset}", *overrides], return_hydra_config=hydra
        )


def search_space(preset: str) -> dict[str, optuna.distributions.BaseDistribution]:
    """The Optuna distributions of a search preset's ``hydra.sweeper.params``."""
    from mnist_sweep.search.space import parse_space  # Optuna, only for the tests that search

    params = compose_search(preset, hydra=True).hydra.sweeper.params
    space, _, _ = parse_space([f"{k}={v}" for k, v in params.items()])
    return space


def random_points(preset: str, n: int) -> list[dict[str, object]]:
    """``n`` points of a search preset's space drawn by a seeded random sampler."""
    space = search_space(preset)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [study.ask(fixed_distributions=space).params for _ in range(n)]


def as_overrides(point: dict[str, object]) -> list[str]:
    """A sampled point as the ``key=value`` overrides a trial's job receives."""
    return [f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in point.items()]
