"""Study storages beyond one SQLite file: a real PostgreSQL server and Optuna's journal file."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from mnist_sweep import storage
from mnist_sweep.errors import ConfigError
from tests.conftest import (
    PRUNE_ALL,
    QUICK,
    kill_while_training,
    run_module,
    run_together,
    trial_metrics,
)
from tests.helpers.servers import PG_PASSWORD, free_port, postgres, postgres_bin

SEARCH = ["-m", "hparams_search=widths", *QUICK, "data.val_size=1000"]


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    if postgres_bin() is None:
        pytest.skip("no PostgreSQL server binaries (Debian: apt-get install postgresql)")
    with postgres() as url:
        yield url


def test_two_workers_share_a_postgresql_study(mnist_root, tmp_path, pg_url):
    storage_args = [f"hydra.sweeper.storage={pg_url}", "hydra.sweeper.study_name=shared_pg"]
    run_together([*SEARCH, "hydra.sweeper.n_trials=2", *storage_args], tmp_path)
    study = optuna.load_study(study_name="shared_pg", storage=storage.open_storage(pg_url))
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 4
    assert sorted(t.number for t in study.trials) == [0, 1, 2, 3]
    assert all(Path(t.user_attrs["run_dir"]).is_dir() for t in study.trials)


def test_two_workers_share_a_journal_file_study_and_prune_their_trials(mnist_root, tmp_path):
    log = tmp_path / "shared" / "widths.log"
    command = [*SEARCH, *PRUNE_ALL, "hydra.sweeper.n_trials=2"]
    run_together([*command, f"hydra.sweeper.storage=journal://{log}"], tmp_path)
    study = optuna.load_study(study_name="widths", storage=storage.open_storage(f"journal://{log}"))
    assert [t.state for t in study.trials] == [TrialState.PRUNED] * 4
    assert sorted(t.number for t in study.trials) == [0, 1, 2, 3]
    for t in study.trials:  # each worker reported its own trials' epochs through the journal
        assert t.intermediate_values == {1: trial_metrics(t)["val_acc"]}


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


def test_a_killed_postgresql_worker_loses_no_trial_and_its_lost_trial_is_retried(tmp_path, pg_url):
    command = [*SEARCH, "trainer.epochs=3", "hydra.sweeper.n_trials=1"]
    command += ["hydra.sweeper.heartbeat_interval=1", "hydra.sweeper.study_name=killed_pg"]
    command.append(f"hydra.sweeper.storage={pg_url}")
    first, second = tmp_path / "first", tmp_path / "second"  # two workers' launch folders
    first.mkdir()
    second.mkdir()
    done = run_module("mnist_sweep", *command, cwd=first)
    assert done.returncode == 0, done.stderr[-3000:]
    kill_while_training(command, second)
    time.sleep(2.5)  # past the grace period: twice the heartbeat interval

    again = run_module("mnist_sweep", *command, cwd=second)
    assert again.returncode == 0, again.stderr[-3000:]
    study = optuna.load_study(study_name="killed_pg", storage=storage.open_storage(pg_url))
    kept, lost, retried = study.trials
    assert kept.state == TrialState.COMPLETE  # the other worker's finished trial is untouched
    assert lost.state == TrialState.FAIL and retried.state == TrialState.COMPLETE
    assert retried.params == lost.params and retried.system_attrs["failed_trial"] == lost.number
    assert not [t for t in study.trials if t.state == TrialState.RUNNING]


def torn_study(path: Path, url: str) -> bytes:
    """A study of three finished trials at ``url`` (file ``path``), cut in half; its bytes."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name="widths", storage=storage.open_storage(url))
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    data = path.read_bytes()[: path.stat().st_size // 2]
    path.write_bytes(data)
    return data


@pytest.mark.parametrize("kind", ["journal", "sqlite"])
def test_a_torn_study_file_is_refused_with_one_line_and_left_unchanged(cli, tmp_path, kind):
    path = tmp_path / ("widths.log" if kind == "journal" else "widths.db")
    url = f"journal://{path}" if kind == "journal" else f"sqlite:///{path}"
    before = torn_study(path, url)
    done = cli(*SEARCH, f"hydra.sweeper.storage={url}")
    assert done.returncode == 2
    assert "Traceback" not in done.stdout + done.stderr
    (line,) = [x for x in (done.stdout + done.stderr).splitlines() if str(path) in x]
    assert "left unchanged" in line
    assert (f"{storage.REPAIR} {path}" if kind == "journal" else ".recover") in line
    assert path.read_bytes() == before
    assert not list(tmp_path.glob("multirun/*/*/0"))  # nothing trained


def test_a_torn_journal_is_repaired_into_a_new_file_that_keeps_the_original(tmp_path):
    path = tmp_path / "widths.log"
    before = torn_study(path, f"journal://{path}")
    done = run_module("mnist_sweep.storage", "repair", str(path), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    repaired = tmp_path / "widths.repaired.log"
    assert str(repaired) in done.stdout and path.read_bytes() == before
    study = optuna.load_study(
        study_name="widths", storage=storage.open_storage(f"journal://{repaired}")
    )
    assert study.trials and study.trials[0].state == TrialState.COMPLETE
    again = run_module("mnist_sweep.storage", "repair", str(path), cwd=tmp_path)
    assert again.returncode == 2 and "already exists" in again.stderr  # never overwritten
