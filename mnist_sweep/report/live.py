"""A sweep's live state, kept beside its jobs so that any process can rebuild its page.

``sweep-state.json`` (``artifacts.SWEEP_STATE``) says whether the sweep runs, how many jobs it
expects, and which process runs it; a sweep whose process is gone without saying it ended
(killed) reads as ``stopped``. A lock file serialises the page rebuilds of jobs that end at the
same moment.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import datetime
from pathlib import Path
from typing import Any

from mnist_sweep import artifacts

RUNNING, ENDED, STOPPED = "running", "ended", "stopped"
# A running sweep's page warns that it may have been killed when no job has ended for this long:
# a multiple of the longest job so far, and never less than the floor.
QUIET_FACTOR, QUIET_FLOOR_SECONDS = 3, 600


def quiet_after(longest_job_seconds: float | None) -> float:
    """Seconds without a job ending after which a running sweep may have been killed."""
    return max(QUIET_FLOOR_SECONDS, QUIET_FACTOR * (longest_job_seconds or 0))


def start(sweep_dir: Path, expected: int | None, reload_seconds: float) -> None:
    """Record that the sweep in ``sweep_dir`` runs in this process, with ``expected`` jobs."""
    artifacts.write_json(
        sweep_dir / artifacts.SWEEP_STATE,
        {
            "state": RUNNING,
            "expected": expected,
            "reload_seconds": reload_seconds,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started_at": datetime.now().isoformat(timespec="seconds"),
        },
    )


def finish(sweep_dir: Path, state: str) -> None:
    """Record that the sweep ended (``ENDED``) or was stopped before its last job (``STOPPED``)."""
    current = read(sweep_dir)
    if current is None:
        return
    body = current | {"state": state, "ended_at": datetime.now().isoformat(timespec="seconds")}
    artifacts.write_json(sweep_dir / artifacts.SWEEP_STATE, body)


def discard(sweep_dir: Path) -> None:
    """Remove the state and lock files of a sweep that ran no job, and its folder if that
    leaves it empty: a refused sweep leaves no trace."""
    for name in (artifacts.SWEEP_STATE, artifacts.SWEEP_LOCK):
        (sweep_dir / name).unlink(missing_ok=True)
    with suppress(OSError):  # something else is there: keep it
        sweep_dir.rmdir()


def _alive(pid: Any) -> bool:
    try:
        os.kill(int(pid), 0)
    except (OSError, ValueError, TypeError, OverflowError):
        return False
    return True


def read(sweep_dir: Path) -> dict[str, Any] | None:
    """The sweep's state, None when it has none (not a sweep, or made before live pages); a
    running sweep whose process on this host is gone reads as stopped."""
    try:
        state = json.loads((sweep_dir / artifacts.SWEEP_STATE).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(state, dict) or state.get("state") not in (RUNNING, ENDED, STOPPED):
        return None
    gone = state.get("host") == socket.gethostname() and not _alive(state.get("pid"))
    if state["state"] == RUNNING and gone:
        state["state"] = STOPPED
    return state


@contextmanager
def lock(sweep_dir: Path) -> Iterator[None]:
    """Hold the sweep's page lock: one rebuild at a time across processes."""
    with (sweep_dir / artifacts.SWEEP_LOCK).open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
