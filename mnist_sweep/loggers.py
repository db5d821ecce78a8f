"""Experiment trackers a run reports to, chosen by the ``logger`` config group: MLflow, TensorBoard.

``run.execute`` drives them through three calls, ``start(config, record, run_dir)``,
``epoch(row)`` and ``end(record, run_dir)``, behind one guard (:class:`Loggers`): a tracker that
raises (server down, disk full) is named in one warning and left out for the rest of the run, so
it never fails the run and never stalls it twice. A multirun adds ``sweep_start`` and
``sweep_end`` (``callbacks.LoggerCallback``): MLflow nests the sweep's jobs under one parent run.

MLflow and TensorBoard are optional extras, imported only when chosen; ``check`` refuses a chosen
tracker that is not installed, naming the extra to install.
"""

from __future__ import annotations

import importlib
import json
import logging
import math
import os
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

from mnist_sweep import artifacts, checks
from mnist_sweep.errors import ConfigError
from mnist_sweep.record import COMPLETED, PRUNED, RunRecord

log = logging.getLogger(__name__)

# A run's files a tracker keeps a copy of, when the run left them.
ARTIFACTS = (artifacts.RUN_REPORT, artifacts.METRICS, artifacts.CHECKPOINT)
# Record fields logged once, at the end, as ``final/<field>`` (those that are numbers).
FINAL = (
    "test_acc",
    "test_loss",
    "best_test_acc",
    "best_epoch",
    "val_acc",
    "val_loss",
    "params",
    "macs",
    "epochs_run",
    "train_seconds",
    "images_per_sec",
    "wall_seconds",
)
# Record fields tagged on a run (with ``status``), when set.
TAGS = ("study", "trial", "job_num")
MLFLOW_PARAMS_PER_BATCH = 100  # the most params MLflow takes in one log_batch call


class Logger(Protocol):
    def start(self, config: Mapping[str, Any], record: RunRecord, run_dir: Path) -> None: ...

    def epoch(self, row: Mapping[str, float]) -> None: ...

    def end(self, record: RunRecord, run_dir: Path) -> None: ...


def flatten(node: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"optim": {"lr": 0.1}}`` → ``{"optim.lr": 0.1}``; lists and empty mappings are leaves."""
    flat: dict[str, Any] = {}
    for key, value in node.items():
        if isinstance(value, Mapping) and value:
            flat |= flatten(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def hyperparameters(config: Mapping[str, Any]) -> dict[str, Any]:
    """The composed config, flattened, without the ``logger`` node (a tracking URI may hold a
    password)."""
    return flatten({k: v for k, v in config.items() if k != "logger"})


def final_metrics(record: RunRecord) -> dict[str, float]:
    values = {f"final/{name}": getattr(record, name) for name in FINAL}
    return {k: float(v) for k, v in values.items() if _finite(v)}


def _finite(value: Any) -> bool:
    return checks.is_number(value) and math.isfinite(value)


def sweep_dir(record: RunRecord, run_dir: Path) -> Path | None:
    """The sweep folder of a multirun job (Hydra's ``<sweep dir>/<job number>``), else None."""
    return Path(os.path.abspath(run_dir)).parent if record.job_num is not None else None


class MlflowLogger:
    """One MLflow run per job: the config as params, every epoch's metrics as steps, the final
    metrics, the run's report, metrics and model as artifacts, and tags (status, sweep folder,
    study, trial). The jobs of a multirun are children of one parent run per sweep folder."""

    name = "mlflow"

    def __init__(
        self, tracking_uri: str, experiment_name: str, request_timeout: int, request_retries: int
    ) -> None:
        self.tracking_uri, self.experiment_name = tracking_uri, experiment_name
        # MLflow reads these for every HTTP request; its defaults retry for minutes.
        os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = str(request_timeout)
        os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = str(request_retries)
        from mlflow import MlflowClient

        self.client = MlflowClient(tracking_uri)
        self.run_id: str | None = None

    def _experiment_id(self) -> str:
        found = self.client.get_experiment_by_name(self.experiment_name)
        if found:
            return found.experiment_id
        try:
            return self.client.create_experiment(self.experiment_name)
        except Exception:  # a parallel job created it first
            found = self.client.get_experiment_by_name(self.experiment_name)
            if not found:
                raise
            return found.experiment_id

    def _parent(self, experiment_id: str, sweep: Path) -> str | None:
        found = self.client.search_runs(
            [experiment_id],
            filter_string=f"tags.kind = 'sweep' and tags.sweep_dir = '{sweep}'",
            max_results=1,
        )
        return found[0].info.run_id if found else None

    def sweep_start(self, sweep: Path, study: str | None) -> None:
        tags = {"kind": "sweep", "sweep_dir": str(sweep)} | ({"study": study} if study else {})
        self.run_id = self.client.create_run(
            self._experiment_id(), run_name=sweep.name, tags=tags
        ).info.run_id

    def sweep_end(self, sweep: Path) -> None:
        if self.run_id:
            self.client.set_terminated(self.run_id, "FINISHED")

    def start(self, config: Mapping[str, Any], record: RunRecord, run_dir: Path) -> None:
        from mlflow.entities import Param

        experiment_id = self._experiment_id()
        sweep = sweep_dir(record, run_dir)
        tags = {"kind": "run", "run_dir": os.path.abspath(run_dir), "status": record.status}
        tags |= {
            name: str(getattr(record, name)) for name in TAGS if getattr(record, name) is not None
        }
        if sweep:
            tags["sweep_dir"] = str(sweep)
            parent = self._parent(experiment_id, sweep)
            if parent:
                tags["mlflow.parentRunId"] = parent
        name = f"{sweep.name}/{record.job_num}" if sweep else Path(run_dir).name
        self.run_id = self.client.create_run(experiment_id, run_name=name, tags=tags).info.run_id
        params = [
            Param(k, json.dumps(v) if not isinstance(v, str) else v)
            for k, v in hyperparameters(config).items()
        ]
        for chunk in _chunks(params, MLFLOW_PARAMS_PER_BATCH):
            self.client.log_batch(self.run_id, params=chunk)

    def epoch(self, row: Mapping[str, float]) -> None:
        self._metrics({k: v for k, v in row.items() if k != "epoch"}, step=int(row["epoch"]))

    def end(self, record: RunRecord, run_dir: Path) -> None:
        self._metrics(final_metrics(record), step=record.epochs_run or 0)
        self.client.set_tag(self.run_id, "status", record.status)
        for name in ARTIFACTS:
            if (run_dir / name).is_file():
                self.client.log_artifact(self.run_id, str(run_dir / name))
        state = {COMPLETED: "FINISHED", PRUNED: "KILLED"}.get(record.status, "FAILED")
        self.client.set_terminated(self.run_id, state)

    def _metrics(self, values: Mapping[str, Any], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        batch = [Metric(k, float(v), now, step) for k, v in values.items() if _finite(v)]
        self.client.log_batch(self.run_id, metrics=batch)


class TensorBoardLogger:
    """Every epoch's metrics as scalars, and at the end an HParams summary (the flattened config
    and the run's status against its final metrics), in ``<run folder>/tensorboard`` or under
    ``log_dir``."""

    name = "tensorboard"

    def __init__(self, log_dir: str | None) -> None:
        self.log_dir = log_dir
        self.writer: Any = None

    def folder(self, run_dir: Path) -> Path:
        """``<run dir>/tensorboard``, or ``<log_dir>/<run dir relative to the launch folder>``."""
        if self.log_dir is None:
            return run_dir / "tensorboard"
        absolute = Path(os.path.abspath(run_dir))
        try:
            relative = absolute.relative_to(Path.cwd())
        except ValueError:  # a run folder outside the launch folder
            relative = Path(*absolute.parts[-3:])
        return Path(self.log_dir) / relative

    def start(self, config: Mapping[str, Any], record: RunRecord, run_dir: Path) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.hparams = {
            k: v if isinstance(v, bool | int | float | str) else json.dumps(v)
            for k, v in hyperparameters(config).items()
        }
        self.writer = SummaryWriter(log_dir=str(self.folder(run_dir)))

    def epoch(self, row: Mapping[str, float]) -> None:
        for key, value in row.items():
            if key != "epoch" and _finite(value):
                self.writer.add_scalar(key, value, int(row["epoch"]))

    def end(self, record: RunRecord, run_dir: Path) -> None:
        from torch.utils.tensorboard.summary import hparams

        metrics = final_metrics(record)
        step = record.epochs_run or 0
        summaries = hparams(self.hparams | {"status": record.status}, metrics)
        for summary in summaries:  # the experiment, session start and session end
            self.writer.file_writer.add_summary(summary, step)
        for key, value in metrics.items():  # the HParams tab reads its metrics from scalars
            self.writer.add_scalar(key, value, step)
        self.writer.close()


def _text(key: str, value: Any) -> None:
    if not isinstance(value, str) or not value:
        raise checks.refuse(key, value, "a non-empty string")


def _folder(key: str, value: Any) -> None:
    if value is not None and (not isinstance(value, str) or not value):
        raise checks.refuse(key, value, "a folder or null")


# logger name (also its extra in pyproject.toml) → its class, the module it needs, and a check
# for each of its settings
LOGGERS: dict[str, tuple[Callable[..., Logger], str, dict[str, Callable[[str, Any], None]]]] = {
    "mlflow": (
        MlflowLogger,
        "mlflow",
        {
            "tracking_uri": _text,
            "experiment_name": _text,
            "request_timeout": lambda k, v: checks.number(k, v, 1, integer=True),
            "request_retries": lambda k, v: checks.number(k, v, 0, integer=True),
        },
    ),
    "tensorboard": (TensorBoardLogger, "torch.utils.tensorboard", {"log_dir": _folder}),
}


def check(node: Mapping[str, Any] | None) -> None:
    """Raise ConfigError for an unknown logger, a bad setting, or one whose extra is missing."""
    for name, settings in (node or {}).items():
        if name not in LOGGERS:
            raise checks.refuse("logger", name, f"one of none, {', '.join(LOGGERS)}")
        _, module, rules = LOGGERS[name]
        settings = settings or {}
        if set(settings) != set(rules):
            raise ConfigError(
                f"logger.{name} has the settings {sorted(settings)}, but needs exactly "
                f"{sorted(rules)}; see conf/logger/{name}.yaml."
            )
        for key, rule in rules.items():
            rule(f"logger.{name}.{key}", settings[key])
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise ConfigError(
                f"logger={name} was chosen, but {module} cannot be imported here ({exc}); "
                f"install it with: pip install -e '.[{name}]' (or choose logger=none)."
            ) from exc


def from_config(node: Mapping[str, Any] | None) -> Loggers:
    """The loggers a checked ``logger`` node asks for; one that cannot be set up is warned about
    and left out."""
    chosen = []
    for name, settings in (node or {}).items():
        try:
            chosen.append(LOGGERS[name][0](**(settings or {})))
        except Exception as exc:
            _warn(name, "setup", exc)
    return Loggers(chosen)


def _warn(name: str, stage: str, exc: Exception) -> None:
    log.warning(
        "logger %s failed at %s and is off for the rest of this run (%s: %s); the run goes on",
        name,
        stage,
        type(exc).__name__,
        exc,
    )


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


class Loggers:
    """The chosen loggers behind one guard: the first exception a logger raises is warned about
    and the logger is dropped, so a tracker never fails a run or slows every epoch."""

    def __init__(self, loggers: list[Logger]) -> None:
        self.active = list(loggers)

    def _call(self, stage: str, *args: Any) -> None:
        for logger in list(self.active):
            method = getattr(logger, stage, None)
            if method is None:
                continue
            try:
                method(*args)
            except Exception as exc:
                _warn(logger.name, stage, exc)
                self.active.remove(logger)

    def start(self, config: Mapping[str, Any], record: RunRecord, run_dir: Path) -> None:
        self._call("start", config, record, run_dir)

    def epoch(self, row: Mapping[str, float]) -> None:
        self._call("epoch", row)

    def end(self, record: RunRecord, run_dir: Path) -> None:
        self._call("end", record, run_dir)

    def sweep_start(self, sweep: Path, study: str | None) -> None:
        self._call("sweep_start", sweep, study)

    def sweep_end(self, sweep: Path) -> None:
        self._call("sweep_end", sweep)
