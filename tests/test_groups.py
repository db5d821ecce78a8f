"""The config groups read before Hydra composes, and what a plain job imports of the search."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mnist_sweep.groups import options, unknown_option
from tests.conftest import REPO


def test_a_misspelt_sweeper_option_is_named_with_the_options_of_its_group():
    assert "median" in options("hydra/sweeper/pruner")
    problem = unknown_option(["-m", "hydra/sweeper/pruner=medain"])
    assert problem == (
        "hydra/sweeper/pruner=medain is not a pruner; choose one of "
        f"{', '.join(options('hydra/sweeper/pruner'))}."
    )
    assert unknown_option(["hydra/sweeper/fidelity=halving", "trainer.epochs=2"]) is None


@pytest.mark.parametrize("module", ["mnist_sweep.search.job", "mnist_sweep.groups"])
def test_a_job_loads_neither_optuna_nor_torch_before_it_knows_it_belongs_to_a_search(module):
    probe = f"import sys, {module}\nprint('\\n'.join(sys.modules))"
    loaded = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    assert not {m.partition(".")[0] for m in loaded} & {"optuna", "torch", "pandas"}
