"""Study storages beyond one SQLite file: a real PostgreSQL server and Optuna's journal file."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from mnist_sweep import storage
from mnist_sweep.errors import ConfigError
from tests.conftest import QUICK
from tests.servers import PG_PASSWORD, free_port, postgres, postgres_bin

SEARCH = ["-m", "hparams_search=widths", *QUICK, "data.val_size=1000"]


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    if postgres_bin() is None:
        pytest.skip("no PostgreSQL server binaries (Debian: apt-get install postgresql)")
    with postgres() as url:
        yield url


def two_workers(mnist_root: Path, cwd: Path, *args: str) -> list[str]:
    """Start the same search twice at once; both must finish. Returns their outputs."""
    env = {**os.environ, "MNIST_SWEEP_DATA": str(mnist_root)}
    command = [sys.executable, "-m", "mnist_sweep", *SEARCH, "hydra.sweeper.n_trials=2", *args]
    procs = [
        subprocess.Popen(
            command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs[0][-2000:] + outputs[1][-2000:]
    return outputs


def test_two_workers_share_a_postgresql_study(mnist_root, tmp_path, pg_url):
    two_workers(
        mnist_root,
        tmp_path,
        f"hydra.sweeper.storage={pg_url}",
        "hydra.sweeper.study_name=shared_pg",
    )
    study = optuna.load_study(study_name="shared_pg", storage=storage.open_storage(pg_url))
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 4
    assert sorted(t.number for t in study.trials) == [0, 1, 2, 3]
    assert all(Path(t.user_attrs["run_dir"]).is_dir() for t in study.trials)


def test_two_workers_share_a_journal_file_study(mnist_root, tmp_path):
    log = tmp_path / "shared" / "widths.log"
    two_workers(mnist_root, tmp_path, f"hydra.sweeper.storage=journal://{log}")
    study = optuna.load_study(study_name="widths", storage=storage.open_storage(f"journal://{log}"))
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 4
    assert sorted(t.number for t in study.trials) == [0, 1, 2, 3]


@pytest.mark.parametrize("problem", ["wrong password", "unreachable host"])
def test_a_database_that_cannot_be_used_gets_one_line_before_training(
    cli, tmp_path, pg_url, problem
):
    url = (
        pg_url.replace(PG_PASSWORD, "wrong")
        if problem == "wrong password"
        else f"postgresql://mnist:{PG_PASSWORD}@127.0.0.1:{free_port()}/postgres"
    )
    done = cli(*SEARCH, f"hydra.sweeper.storage={url}")
    assert done.returncode == 2
    out = done.stdout + done.stderr
    assert "Traceback" not in out and "could not be opened" in out
    assert PG_PASSWORD not in out and "wrong" not in out.replace("went wrong", "")  # hidden
    assert not list(tmp_path.glob("multirun/*/*/0"))  # nothing trained


def test_postgresql_without_a_driver_names_the_extra(monkeypatch):
    real = storage.importlib.util.find_spec
    monkeypatch.setattr(
        storage.importlib.util,
        "find_spec",
        lambda name: None if name.startswith("psycopg") else real(name),
    )
    with pytest.raises(ConfigError, match=r"pip install -e '\.\[postgres\]'"):
        storage.open_storage("postgresql://u:pw@127.0.0.1:1/db")


def test_a_journal_url_must_name_a_file(tmp_path):
    with pytest.raises(ConfigError, match="journal:///path/to/study.log"):
        storage.open_storage(f"journal://{tmp_path}/")
