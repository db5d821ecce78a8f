"""Every file name a run and a sweep leave on disk, and the atomic writers they use.

A file is written to a temporary name in its folder and renamed into place, so a reader (the
leaderboard, a second process) sees either the old file or the new one, never half of one. This
module imports neither torch nor the report's libraries: every floor of the package names its
files from here.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mnist_sweep.errors import ConfigError, WriteError

if TYPE_CHECKING:
    from torch import Tensor

# a run's folder
METRICS = "metrics.json"  # the run record (mnist_sweep.record)
HISTORY = "history.csv"  # one row per epoch
CHECKPOINT = "model.pt"  # weights and the model config that rebuilds them
PREDICTIONS = "predictions.npz"  # final-epoch test predictions, misclassified digits
ARCHITECTURE = "architecture.json"  # the architecture table of the model as built
RUN_REPORT = "report.html"
ONNX = "model.onnx"  # the model as fp32 ONNX, its normalisation inside (mnist_sweep.export)
ONNX_INT8 = "model.int8.onnx"  # the same, statically quantised to int8
EXPORT = "export.json"  # what was measured of both: accuracy, agreement, size, latency
HYDRA_DIR = ".hydra"  # Hydra's files of the run:
CONFIG = f"{HYDRA_DIR}/config.yaml"  # the composed config
OVERRIDES = f"{HYDRA_DIR}/overrides.yaml"  # the command line's overrides
HYDRA_SETTINGS = f"{HYDRA_DIR}/hydra.yaml"  # Hydra's own settings (sweeper, storage, ...)
# a sweep's folder
MULTIRUN = "multirun.yaml"
LEADERBOARD = "leaderboard.html"
LEADERBOARD_CSV = "leaderboard.csv"
SWEEP_STATE = "sweep-state.json"  # a sweep's live state (report.live)
SWEEP_LOCK = ".leaderboard.lock"  # serialises the page rebuilds of jobs ending at once
CLAIM = ".claim"  # a run's or sweep's folder: the process that owns it (mnist_sweep.claims)
# what a user can do about a file that cannot be written, by its errno
REMEDIES = {
    errno.ENOSPC: "free space on that filesystem, or point the output folder at another one",
    errno.EDQUOT: "free space within your quota, or point the output folder at another filesystem",
    errno.EROFS: "point the output folder at a writable filesystem",
    errno.EACCES: "give yourself write permission there, or point the output folder elsewhere",
    errno.EPERM: "give yourself write permission there, or point the output folder elsewhere",
}
_UMASK = os.umask(0)
os.umask(_UMASK)


def write_atomic(path: Path, payload: bytes | str) -> None:
    """Write ``payload`` to ``path`` whole or not at all; a failure to write is a WriteError that
    names the file, the error and the remedy, and leaves nothing under a final name."""
    data = payload.encode() if isinstance(payload, str) else payload
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            with suppress(OSError):
                Path(tmp).unlink()
        if isinstance(exc, OSError) and not isinstance(exc, WriteError):
            raise write_error(path, exc) from None
        raise


def write_error(path: Path, exc: OSError) -> WriteError:
    """The one-line error for ``path`` that could not be written."""
    remedy = REMEDIES.get(exc.errno, "check that the folder exists and can be written")
    reason = exc.strerror or type(exc).__name__
    error = WriteError(f"could not write {path}: {reason}; {remedy}.")
    error.errno = exc.errno
    return error


def finite(obj: Any) -> Any:
    """``obj`` with every NaN or infinite float replaced by None, at any depth: JSON has no
    token for them, and strict readers (``jq``, a browser's ``JSON.parse``) reject Python's."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [finite(v) for v in obj]
    return obj


def write_json(path: Path, obj: Mapping[str, Any]) -> None:
    """Strictly valid JSON (non-finite numbers become null), written atomically."""
    text = json.dumps(finite(obj), indent=2, default=str, allow_nan=False)
    write_atomic(path, text + "\n")


def check_fresh(run_dir: Path) -> None:
    """Refuse to start in a folder that already holds another run's results."""
    path = run_dir / METRICS
    if path.exists():
        raise ConfigError(
            f"{run_dir} already holds a run ({path.name} exists) and would be overwritten; "
            "leave hydra.run.dir at its default or point it at a new folder."
        )


def write_history(path: Path, rows: Sequence[Mapping[str, float]]) -> None:
    columns = list(dict.fromkeys(k for row in rows for k in row))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_atomic(path, buf.getvalue())


def save_predictions(
    path: Path, pred: Tensor, target: Tensor, images: Tensor, keep: int = 64
) -> None:
    """Final-epoch test predictions, and the first ``keep`` misclassified digits as uint8."""
    import numpy as np  # a run's last step; checking a config needs none of it

    wrong = (pred != target).nonzero().flatten()[:keep]
    buf = io.BytesIO()
    np.savez_compressed(
        buf,
        pred=pred.numpy().astype(np.uint8),
        target=target.numpy().astype(np.uint8),
        wrong_index=wrong.numpy(),
        wrong_images=images[wrong].numpy(),
    )
    write_atomic(path, buf.getvalue())
