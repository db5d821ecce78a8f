"""A run or sweep folder belongs to one process at a time: the one holding its claim.

A claim is an exclusive ``flock`` on the folder's ``.claim`` file, which holds the claimant's
process id. The operating system releases it when the process ends, however it ends, so a claim
never outlives its process: a ``.claim`` left by a killed process is taken over (and named in the
log). Of two processes started into one folder, exactly one gets it; the other is refused before
it writes anything there.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mnist_sweep.artifacts import CLAIM
from mnist_sweep.errors import ClaimError

log = logging.getLogger(__name__)

_HELD: dict[Path, int] = {}  # the folders this process holds: their claim file's descriptor


def claim(folder: Path, key: str) -> bool:
    """Claim ``folder`` (created if missing) for this process until :func:`release` or the
    process's end. True when this call took the claim, False when this process held it already;
    ClaimError (naming ``key``, the setting that chose the folder) when another process holds
    it."""
    where = folder.resolve()
    if where in _HELD:
        return False
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / CLAIM, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        holder = _holder(fd)
        os.close(fd)
        if exc.errno not in (errno.EWOULDBLOCK, errno.EACCES):
            raise
        raise ClaimError(
            f"{folder} ({key}) is in use by another run or sweep ({holder}), which writes its "
            "files there; wait for it to end, or point it at a new folder."
        ) from None
    previous = _holder(fd)
    if previous != "unknown":
        log.info("%s: took over the claim of %s, which has ended", folder, previous)
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    _HELD[where] = fd
    return True


def release(folder: Path) -> None:
    """Give up this process's claim on ``folder`` (nothing if it holds none)."""
    fd = _HELD.pop(folder.resolve(), None)
    if fd is not None:
        os.pwrite(fd, b"", 0)
        os.ftruncate(fd, 0)
        os.close(fd)  # closing the descriptor releases the lock


@contextmanager
def claimed(folder: Path, key: str) -> Iterator[None]:
    """``folder`` claimed for the block; released after it, unless this process held it
    before (an entry point claims the folder it hands to a run)."""
    taken = claim(folder, key)
    try:
        yield
    finally:
        if taken:
            release(folder)


def _holder(fd: int) -> str:
    """The process named in a claim file: 'process N', or 'unknown' for an empty file."""
    text = os.pread(fd, 32, 0).decode(errors="replace").strip()
    return f"process {text}" if text.isdigit() else "unknown"
