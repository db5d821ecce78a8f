"""A run's model as ONNX files for a device: ``model.onnx`` (fp32) and ``model.int8.onnx``
(static int8), checked on the official 10,000 test images, and ``export.json`` with what was
measured: each file's accuracy, its agreement with the PyTorch model, its size and its median
latency on this CPU.

``python -m mnist_sweep.export RUN_DIR …`` (``__main__``) is the command; ``export_run`` exports
one run folder, ``runs_below`` finds the runs a path names. The graph takes raw pixels in [0, 1],
``[N, 1, 28, 28]``, any N: the run's normalisation (``data.mean``, ``data.std``) is inside it.
An fp32 file whose predictions differ from PyTorch's on more than ``FP32_MAX_DISAGREE`` images,
or an int8 file more than ``INT8_MAX_DROP`` below PyTorch's accuracy, is written with
``status: problem`` and the reason in ``problems``, and the command says so.
"""

from __future__ import annotations

import os
import re
import tempfile
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from mnist_sweep import artifacts
from mnist_sweep.errors import UserError
from mnist_sweep.record import COMPLETED, RunRecord

EXTRA = ("onnx", "onnxruntime", "onnxscript")  # the [export] extra of pyproject.toml
FP32_MAX_DISAGREE = 5  # test images on which fp32 ONNX may differ from PyTorch (ties)
INT8_MAX_DROP = 0.003  # int8 accuracy may be this far below PyTorch's (0.3 points)
CALIBRATION = 512  # training images the int8 activation ranges are calibrated on
OK, PROBLEM = "ok", "problem"


class ExportError(UserError):
    """A folder that cannot be exported: no model, an unfinished run, a model that does not
    export, a folder that cannot be written."""


def missing_extra() -> str | None:
    """The one line to print when the ``[export]`` extra is not installed; None when it is."""
    absent = []
    for name in EXTRA:
        try:
            __import__(name)
        except ImportError:
            absent.append(name)
    if not absent:
        return None
    return (
        f"exporting needs {', '.join(absent)}, which are not installed: "
        "pip install -e '.[export]' (the [export] extra of mnist_sweep)"
    )


def runs_below(path: Path) -> tuple[list[Path], list[str]]:
    """The run folders ``path`` names: itself when it is a run, else every completed run below
    it (a sweep folder); and one line for each run below it that is skipped."""
    if not path.is_dir():
        raise ExportError(f"{path} is not a folder; give a run folder or a sweep folder.")
    if _is_run(path):
        return [path], []
    runs, skipped = [], []
    for folder, dirs, _ in os.walk(path):
        dirs[:] = sorted(d for d in dirs if d != artifacts.HYDRA_DIR)
        here = Path(folder)
        if here == path or not _is_run(here):
            continue
        dirs[:] = []
        status = _status(here)
        if status == COMPLETED and (here / artifacts.CHECKPOINT).is_file():
            runs.append(here)
        else:
            skipped.append(f"skipped {here}: {status or 'no record'}, not a completed run")
    if not runs:
        raise ExportError(
            f"{path} holds no completed run with a {artifacts.CHECKPOINT}; give a run folder "
            "or a sweep folder of finished runs."
        )
    return runs, skipped


def _is_run(folder: Path) -> bool:
    return (
        any((folder / name).exists() for name in (artifacts.METRICS, artifacts.CHECKPOINT))
        or (folder / artifacts.HYDRA_DIR).is_dir()
    )


def _status(run_dir: Path) -> str | None:
    try:
        return RunRecord.read(run_dir).status
    except (OSError, ValueError):
        return None


@dataclass(frozen=True)
class Options:
    """How to export: a run's last checkpoint too, latency repeats, threads, the data root."""

    last_checkpoint: bool = False
    repeats: int = 50  # timed calls of one image; a tenth as many (at least 3) of a batch
    threads: int = 1
    data_root: str | None = None


def check_run(run_dir: Path, options: Options) -> tuple[dict[str, Any], str]:
    """The run's composed config and which checkpoint its model.pt is; an ExportError for a
    folder that cannot be exported."""
    if not (run_dir / artifacts.CHECKPOINT).is_file():
        raise ExportError(
            f"{run_dir} holds no {artifacts.CHECKPOINT}: nothing to export (a run refused "
            "before training or one that diverged keeps no weights)."
        )
    try:
        record = RunRecord.read(run_dir)
    except (OSError, ValueError) as exc:
        raise ExportError(f"{run_dir}: {artifacts.METRICS} cannot be read ({exc}).") from None
    checkpoint = "final"
    if record.status != COMPLETED:
        done = f"{record.epochs_run or 0} of {record.epochs} epochs"
        if not options.last_checkpoint:
            raise ExportError(
                f"{run_dir}: the run is {record.status} after {done}; its "
                f"{artifacts.CHECKPOINT} is its last checkpoint, not a finished model; add "
                "--last-checkpoint to export it."
            )
        checkpoint = f"last checkpoint: the run is {record.status} after {done}"
    try:
        config = read_config(run_dir)
        mean, std = float(config["data"]["mean"]), float(config["data"]["std"])
    except Exception:  # missing, not YAML, not a mapping, no data node
        raise ExportError(
            f"{run_dir}: {artifacts.CONFIG} does not give data.mean and data.std, the "
            "normalisation the exported graph holds."
        ) from None
    if not std > 0:  # NaN too
        raise ExportError(f"{run_dir}: data.std={std} in {artifacts.CONFIG} is not above 0.")
    config["data"]["mean"], config["data"]["std"] = mean, std
    _check_writable(run_dir)
    return config, checkpoint


def read_config(run_dir: Path) -> dict[str, Any]:
    """The run's composed config, with ``${oc.env:…}`` and other interpolations resolved where
    they resolve outside Hydra (``data.root`` names the environment's MNIST folder)."""
    from omegaconf import OmegaConf

    cfg = OmegaConf.load(run_dir / artifacts.CONFIG)
    plain = OmegaConf.to_container(cfg, resolve=False)
    if not isinstance(plain, dict):
        raise ValueError("not a mapping")
    for key in plain:
        with suppress(Exception):  # ${hydra:…} resolves only inside a Hydra job
            plain[key] = OmegaConf.to_container(cfg[key], resolve=True)
    return plain


def _check_writable(run_dir: Path) -> None:
    try:
        fd, tmp = tempfile.mkstemp(dir=run_dir, prefix=".export-probe.")
    except OSError as exc:
        raise artifacts.write_error(run_dir / artifacts.EXPORT, exc) from None
    os.close(fd)
    os.unlink(tmp)


def export_run(run_dir: Path, options: Options = Options()) -> dict[str, Any]:
    """Export one run folder: both ONNX files and export.json written, or none of them."""
    from mnist_sweep import data, machine, models
    from mnist_sweep.export import onnx_files as ox

    config, checkpoint = check_run(run_dir, options)
    data_cfg, allowed = config["data"], config.get("allowed_targets") or []
    try:
        model = models.load(run_dir / artifacts.CHECKPOINT, allowed=allowed)
    except UserError as exc:
        raise ExportError(f"{run_dir}: {artifacts.CHECKPOINT} cannot be rebuilt: {exc}") from None
    except Exception as exc:  # a user's module that cannot be imported or built
        raise ExportError(
            f"{run_dir}: {artifacts.CHECKPOINT} cannot be rebuilt: {_first_line(exc)}"
        ) from None
    wrapped = ox.Normalised(model, data_cfg["mean"], data_cfg["std"]).eval()
    try:
        fp32, opset = ox.fp32_onnx(wrapped)
    except Exception as exc:  # the exporter's errors are many kinds, each a long story
        target = f"{type(model).__module__}.{type(model).__qualname__}"
        raise ExportError(
            f"{run_dir}: the model ({target}) does not export to ONNX with {ox.EXPORTER}: "
            f"{_first_line(exc, summary=True)}"
        ) from None
    root = options.data_root or os.environ.get("MNIST_SWEEP_DATA") or data_cfg.get("root", "data")
    splits = data.load_splits(
        root,
        mean=0.0,  # raw pixels in [0, 1]: the graph normalises
        std=1.0,
        val_size=int(data_cfg.get("val_size") or 0),
        split_seed=int(data_cfg.get("split_seed") or 0),
        sources=data_cfg.get("sources") or ["torchvision", "pypi"],
    )
    calibration = splits.train_x[:CALIBRATION].numpy()  # training images, never the test set
    int8 = ox.int8_onnx(fp32, calibration)
    test_x, test_y = splits.test_x.numpy(), splits.test_y.numpy()
    reference = ox.torch_predictions(wrapped, test_x)
    torch_acc = float((reference == test_y).mean())
    files, problems = {}, []
    for name, payload in ((artifacts.ONNX, fp32), (artifacts.ONNX_INT8, int8)):
        session = ox.Session(payload, options.threads)
        pred = session.predict(test_x)
        single, batch = test_x[:1], test_x[: ox.BATCH]
        files[name] = {
            "bytes": len(payload),
            "weight_bytes": ox.weight_bytes(payload),
            "accuracy": float((pred == test_y).mean()),
            "agreement": float((pred == reference).mean()),
            "disagreements": int((pred != reference).sum()),
            "latency_ms_1": session.median_ms(single, options.repeats),
            f"latency_ms_{ox.BATCH}": session.median_ms(batch, max(3, options.repeats // 10)),
        }
    fp32_info, int8_info = files[artifacts.ONNX], files[artifacts.ONNX_INT8]
    if fp32_info["disagreements"] > FP32_MAX_DISAGREE:
        problems.append(
            f"{artifacts.ONNX} disagrees with the PyTorch model on "
            f"{fp32_info['disagreements']} of {len(test_y)} test images (at most "
            f"{FP32_MAX_DISAGREE} allowed)"
        )
    if int8_info["accuracy"] < torch_acc - INT8_MAX_DROP:
        problems.append(
            f"{artifacts.ONNX_INT8} scores {100 * int8_info['accuracy']:.2f}%, "
            f"{100 * (torch_acc - int8_info['accuracy']):.2f} points below PyTorch's "
            f"{100 * torch_acc:.2f}% (at most {100 * INT8_MAX_DROP:.1f} allowed)"
        )
    report = {
        "status": PROBLEM if problems else OK,
        "problems": problems,
        "checkpoint": checkpoint,
        "exported_at": datetime.now().isoformat(timespec="seconds"),
        "exporter": ox.EXPORTER,
        "opset": opset,
        "input": {"name": ox.INPUT, "shape": ["N", 1, 28, 28], "range": [0, 1]},
        "output": ox.OUTPUT,
        "normalisation": {"mean": data_cfg["mean"], "std": data_cfg["std"]},
        "calibration": {"images": len(calibration), "from": "training set"},
        "test_images": len(test_y),
        "pytorch": {"accuracy": torch_acc, "params": models.trainable_params(model)},
        "files": files,
        "machine": {
            "cpu": machine.cpu_name(),
            "cpu_capability": machine.cpu_capability(),
            "threads": options.threads,
            "repeats": options.repeats,
        },
        "versions": {name: _version(name) for name in ("torch", *EXTRA)},
    }
    _write(run_dir, {artifacts.ONNX: fp32, artifacts.ONNX_INT8: int8}, report)
    return report


def _write(run_dir: Path, onnx_files: dict[str, bytes], report: dict[str, Any]) -> None:
    """The two files, then export.json, each atomically; when one fails, the files this call
    wrote and the export.json that no longer describes them are removed: an export is whole
    or absent."""
    written: list[str] = []
    try:
        for name, payload in onnx_files.items():
            artifacts.write_atomic(run_dir / name, payload)
            written.append(name)
        artifacts.write_json(run_dir / artifacts.EXPORT, report)
    except BaseException:
        for name in [*written, artifacts.EXPORT] if written else []:
            with suppress(OSError):
                (run_dir / name).unlink()
        raise


def _first_line(exc: BaseException, summary: bool = False) -> str:
    """The first line of an error's message; with ``summary``, the first line of the
    exporter's "Exception summary" where it gives one (its first line is advice)."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip()
    if summary and "## Exception summary" in text:
        text = re.sub(r"^<class '[\w.]+'>: ", "", text.split("## Exception summary", 1)[1].strip())
    line = next((s.strip() for s in text.splitlines() if s.strip()), "")
    return f"{type(exc).__name__}: {line[:300]}" if line else type(exc).__name__


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None
