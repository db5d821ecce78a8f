"""Every file name a run and a sweep leave on disk, and the atomic writers they use.

A file is written to a temporary name in its folder and renamed into place, so a reader (the
leaderboard, a second process) sees either the old file or the new one, never half of one. This
module imports neither torch nor the report's libraries: every floor of the package names its
files from here.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mnist_sweep.errors import ConfigError

if TYPE_CHECKING:
    from torch import Tensor

# a run's folder
METRICS = "metrics.json"  # the run record (mnist_sweep.record)
HISTORY = "history.csv"  # one row per epoch
CHECKPOINT = "model.pt"  # weights and the model config that rebuilds them
PREDICTIONS = "predictions.npz"  # final-epoch test predictions, misclassified digits
ARCHITECTURE = "architecture.json"  # the architecture table of the model as built
RUN_REPORT = "report.html"
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
_UMASK = os.umask(0)
os.umask(_UMASK)


def write_atomic(path: Path, payload: bytes | str) -> None:
    data = payload.encode() if isinstance(payload, str) else payload
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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


def claim(run_dir: Path) -> None:
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
