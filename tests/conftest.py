"""Shared fixtures: the verified MNIST files, Hydra composition, and CLI runs in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from mnist_sweep.data import ensure_mnist

REPO = Path(__file__).resolve().parents[1]
CONF = REPO / "conf"
# Tests share the data folder a user's runs use (prepared once, verified by MD5 on every use).
DATA_ROOT = Path(os.environ.get("MNIST_SWEEP_DATA", REPO / "data")).resolve()
# A run small enough for a test: a slice of the training images, one epoch, one thread; batches
# of 128 keep eight steps, enough for the default one-cycle schedule's warm-up and decay.
QUICK = [
    "data.train_subset=1024",
    "trainer.epochs=1",
    "trainer.batch_size=128",
    "device=cpu",
    "device.threads=1",
]


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


@pytest.fixture()
def cli(mnist_root: Path, tmp_path: Path) -> Callable[..., subprocess.CompletedProcess]:
    """Run ``python -m mnist_sweep ARGS`` in a subprocess with outputs under ``tmp_path``."""

    def _run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        env = {**os.environ, "MNIST_SWEEP_DATA": str(mnist_root)}
        return subprocess.run(
            [sys.executable, "-m", "mnist_sweep", *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return _run
