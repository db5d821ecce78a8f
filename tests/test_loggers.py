"""The ``logger`` group end to end: runs are read back with MLflow's own client and TensorBoard's
event reader; a tracker that fails is warned about and the run goes on; a tracker that is not
installed is refused before training, naming its extra."""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from mlflow import MlflowClient
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

from mnist_sweep import artifacts, loggers
from mnist_sweep.errors import ConfigError
from mnist_sweep.record import RunRecord
from tests.conftest import DATA_ROOT, TINY, sweep_dirs

BOTH = "logger=[mlflow,tensorboard]"
MLFLOW_SETTINGS = {
    "tracking_uri": "sqlite:///mlflow.db",
    "experiment_name": "mnist_sweep",
    "request_timeout": 5,
    "request_retries": 0,
}


@pytest.fixture(scope="session")
def tracking_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One local MLflow store for every test here: creating its tables takes seconds."""
    uri = f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"
    MlflowClient(uri).search_experiments()
    return uri


def mlflow_args(uri: str, experiment: str) -> list[str]:
    return [
        f"logger.mlflow.tracking_uri={uri}",
        f"logger.mlflow.experiment_name={experiment}",
    ]


def history(run_dir: Path) -> list[dict[str, str]]:
    return list(csv.DictReader((run_dir / artifacts.HISTORY).open()))


def hparams_of(folder: Path) -> tuple[EventAccumulator, dict[str, HParamsPluginData]]:
    events = EventAccumulator(str(folder))
    events.Reload()
    content = events.PluginTagToContent("hparams")
    return events, {tag: HParamsPluginData.FromString(raw) for tag, raw in content.items()}


def test_a_run_is_in_mlflow_and_tensorboard_with_config_epochs_final_metrics_and_files(
    cli, tmp_path, tracking_uri
):
    done = cli(BOTH, *mlflow_args(tracking_uri, "single"), *TINY, "trainer.epochs=2")
    assert done.returncode == 0, done.stderr
    (run_dir,) = tmp_path.glob("outputs/*/*")
    record = json.loads((run_dir / artifacts.METRICS).read_text())
    rows = history(run_dir)
    assert [int(r["epoch"]) for r in rows] == [1, 2]

    client = MlflowClient(tracking_uri)
    (run,) = client.search_runs([client.get_experiment_by_name("single").experiment_id])
    assert run.info.status == "FINISHED"
    assert run.data.tags["status"] == "completed"
    assert run.data.tags["run_dir"] == str(run_dir)
    assert run.data.params["trainer.epochs"] == "2"
    composed = yaml.safe_load((run_dir / ".hydra" / "config.yaml").read_text())
    assert run.data.params["model.widths"] == str(composed["model"]["widths"])
    assert not any(key.startswith("logger.") for key in run.data.params)  # URIs hold passwords
    for name in ("test_acc", "train_loss", "lr"):
        steps = [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, name)]
        assert steps == [(int(r["epoch"]), pytest.approx(float(r[name]))) for r in rows]
    assert run.data.metrics["final/test_acc"] == pytest.approx(record["test_acc"])
    assert run.data.metrics["final/params"] == record["params"]
    names = sorted(a.path for a in client.list_artifacts(run.info.run_id))
    assert names == sorted([artifacts.METRICS, artifacts.CHECKPOINT, artifacts.RUN_REPORT])
    copy = client.download_artifacts(run.info.run_id, artifacts.METRICS, str(tmp_path))
    assert Path(copy).read_text() == (run_dir / artifacts.METRICS).read_text()

    events, summaries = hparams_of(run_dir / "tensorboard")
    test_acc = [(s.step, s.value) for s in events.Scalars("test_acc")]
    assert test_acc == [(int(r["epoch"]), pytest.approx(float(r["test_acc"]))) for r in rows]
    session = summaries["_hparams_/session_start_info"].session_start_info.hparams
    assert session["trainer.epochs"].number_value == 2
    assert session["status"].string_value == "completed"
    metrics = summaries["_hparams_/experiment"].experiment.metric_infos
    assert "final/test_acc" in {m.name.tag for m in metrics}
    (final,) = events.Scalars("final/test_acc")
    assert final.value == pytest.approx(record["test_acc"])


def test_a_multirun_is_one_mlflow_parent_run_over_its_jobs_and_one_hparams_session_per_job(
    cli, tmp_path, tracking_uri
):
    done = cli("-m", BOTH, *mlflow_args(tracking_uri, "sweep"), "trainer.seed=0,1", *TINY)
    assert done.returncode == 0, done.stderr
    (sweep_dir,) = sweep_dirs(tmp_path)

    client = MlflowClient(tracking_uri)
    runs = client.search_runs([client.get_experiment_by_name("sweep").experiment_id])
    (parent,) = [r for r in runs if r.data.tags["kind"] == "sweep"]
    jobs = sorted(
        (r for r in runs if r.data.tags["kind"] == "run"), key=lambda r: r.data.tags["job_num"]
    )
    assert parent.data.tags["sweep_dir"] == str(sweep_dir)
    assert parent.info.status == "FINISHED"
    assert [r.data.tags["job_num"] for r in jobs] == ["0", "1"]
    assert [r.data.params["trainer.seed"] for r in jobs] == ["0", "1"]
    for job in jobs:
        assert job.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert job.data.tags["sweep_dir"] == str(sweep_dir)
        assert job.data.tags["status"] == "completed"
        assert [m.step for m in client.get_metric_history(job.info.run_id, "test_acc")] == [1]

    for job in ("0", "1"):
        _, summaries = hparams_of(sweep_dir / job / "tensorboard")
        session = summaries["_hparams_/session_start_info"].session_start_info.hparams
        assert session["trainer.seed"].number_value == int(job)


@pytest.fixture()
def silent_server() -> Iterator[str]:
    """A tracking server that accepts connections and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.mark.parametrize("server", ["refused", "silent"])
def test_an_unreachable_tracking_server_costs_one_warning_and_the_run_finishes(
    cli, tmp_path, server, request
):
    uri = "http://127.0.0.1:9" if server == "refused" else request.getfixturevalue("silent_server")
    done = cli("logger=mlflow", *mlflow_args(uri, "x"), "logger.mlflow.request_timeout=1", *TINY)
    assert done.returncode == 0, done.stderr
    assert (done.stdout + done.stderr).count("logger mlflow failed at start") == 1
    (run_dir,) = tmp_path.glob("outputs/*/*")
    record = RunRecord.read(run_dir)
    assert record.status == "completed"
    # MLflow's own default retries an unreachable server for minutes
    assert record.wall_seconds < 30


def hidden_module_env(tmp_path: Path, module: str) -> dict[str, str]:
    """The environment of a process in which ``import module`` fails, as when not installed."""
    stub = tmp_path / "hidden" / module
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text(f"raise ImportError('{module} is hidden by this test')\n")
    path = os.pathsep.join(filter(None, [str(stub.parent), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, "MNIST_SWEEP_DATA": str(DATA_ROOT)}


@pytest.mark.parametrize("mode", [[], ["-m", "trainer.seed=0,1"]], ids=["run", "multirun"])
def test_a_logger_that_is_not_installed_is_refused_before_training_naming_its_extra(
    tmp_path, mode, mnist_root
):
    done = subprocess.run(
        [sys.executable, "-m", "mnist_sweep", *mode, "logger=mlflow", *TINY],
        cwd=tmp_path,
        env=hidden_module_env(tmp_path, "mlflow"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert "pip install -e '.[mlflow]'" in output
    assert "Traceback" not in output
    assert "epoch 1/" not in output
    assert not list(tmp_path.glob("multirun/*/*/*/metrics.json"))


def test_a_tensorboard_logger_without_tensorboard_is_refused_naming_its_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    with pytest.raises(ConfigError, match=r"pip install -e '\.\[tensorboard\]'"):
        loggers.check({"tensorboard": {"log_dir": None}})


@pytest.mark.parametrize(
    ("node", "message"),
    [
        ({"wandb": {}}, "logger='wandb' is not allowed"),
        ({"mlflow": {**MLFLOW_SETTINGS, "request_timeout": 0}}, "logger.mlflow.request_timeout=0"),
        ({"mlflow": {**MLFLOW_SETTINGS, "tracking_uri": ""}}, "logger.mlflow.tracking_uri=''"),
        ({"mlflow": {"tracking_uri": "sqlite:///x.db"}}, "needs exactly"),
        ({"tensorboard": {"log_dir": 3}}, "logger.tensorboard.log_dir=3"),
    ],
)
def test_bad_logger_settings_are_refused_naming_the_key(node, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        loggers.check(node)


class Recorder:
    def __init__(self, name: str, fails: bool) -> None:
        self.name, self.fails, self.rows = name, fails, []

    def epoch(self, row: dict[str, float]) -> None:
        self.rows.append(row)
        if self.fails:
            raise OSError("No space left on device")


def test_a_logger_that_raises_is_warned_about_once_and_the_others_go_on(caplog):
    broken, working = Recorder("broken", fails=True), Recorder("working", fails=False)
    trackers = loggers.Loggers([broken, working])
    for epoch in (1, 2, 3):
        trackers.epoch({"epoch": epoch})
    assert len(broken.rows) == 1
    assert len(working.rows) == 3
    (warning,) = [r for r in caplog.records if r.levelname == "WARNING"]
    assert "broken failed at epoch" in warning.getMessage()
    assert "No space left on device" in warning.getMessage()


def test_a_tensorboard_log_root_keeps_each_run_in_its_own_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    logger = loggers.TensorBoardLogger("tb")
    assert logger.folder(tmp_path / "multirun/d/t/0") == Path("tb/multirun/d/t/0")
    assert loggers.TensorBoardLogger(None).folder(Path("outputs/d/t")) == Path(
        "outputs/d/t/tensorboard"
    )
