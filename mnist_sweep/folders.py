"""What a run or sweep folder holds, and what a sweep leaves in it when it ends early: read
by the output-folder callback before Hydra writes anything, and after a sweep."""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from contextlib import suppress
from pathlib import Path

from mnist_sweep import artifacts, claims
from mnist_sweep.errors import ClaimError, signal_name
from mnist_sweep.record import (
    COMPLETED,
    FAILED,
    INTERRUPTED,
    LEVELS,
    OVER_BUDGET,
    PRUNED,
    RUNNING,
    RunRecord,
)

WORKERS_GONE_SECONDS = 5.0  # how long a stopped sweep waits for its workers' processes to end


def writable_dir_problem(path: Path) -> str | None:
    """Why ``path`` cannot be created and written (None if it can); leaves no trace behind."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        return exc.strerror or str(exc)
    finally:
        for folder in missing:  # deepest first; only the folders this check created
            try:
                folder.rmdir()
            except OSError:
                break
    return None


def holds_a_run(path: Path) -> bool:
    """True when ``path`` holds a run's files (its metrics or its Hydra config)."""
    return (path / artifacts.METRICS).exists() or (path / artifacts.CONFIG).exists()


def holds_a_sweep(path: Path) -> bool:
    """True when ``path`` holds a sweep's files: its Hydra config, live state or a job."""
    if (path / artifacts.MULTIRUN).exists() or (path / artifacts.SWEEP_STATE).exists():
        return True
    return path.is_dir() and any(holds_a_run(job) for job in path.iterdir() if job.is_dir())


def forget_sweep(sweep_dir: Path) -> None:
    """Remove what a sweep without jobs left: Hydra's multirun.yaml, the claim, and the folder
    itself when nothing else is in it."""
    claims.release(sweep_dir)
    for name in (artifacts.MULTIRUN, artifacts.CLAIM):
        (sweep_dir / name).unlink(missing_ok=True)
    with suppress(OSError):  # something else is in it: kept
        sweep_dir.rmdir()


def mark_interrupted(sweep_dir: Path, exc: KeyboardInterrupt) -> None:
    """Record as interrupted every job of a stopped sweep that still reads ``running`` and whose
    process is gone (its folder's claim is free): a launcher's worker stopped with its sweep
    (joblib's) cannot say so itself. A job another live process still runs is left to it."""
    name = signal_name(exc)
    running = []
    for path in sorted(sweep_dir.rglob(artifacts.METRICS)):
        with suppress(OSError, ValueError):
            if RunRecord.read(path.parent).status == RUNNING:
                running.append(path.parent)
    deadline = time.monotonic() + WORKERS_GONE_SECONDS
    while running:
        for job in list(running):
            with suppress(ClaimError), claims.claimed(job, "a job of the stopped sweep"):
                record = RunRecord.read(job)
                if record.status == RUNNING:
                    record.status = INTERRUPTED
                    record.error = (
                        f"interrupted by {name}: its sweep was stopped after "
                        f"{record.epochs_run or 0} of {record.epochs} epochs; its finished "
                        "epochs are kept."
                    )
                    record.write(job)
                running.remove(job)
        if not running or time.monotonic() > deadline:
            break
        time.sleep(0.2)  # a stopped worker may take a moment to end


def sweep_outcome(sweep_dir: Path) -> tuple[str, int] | None:
    """When no job of the sweep in ``sweep_dir`` trained to its end (completed or pruned): a
    one-line summary and the exit status, 2 when every job was refused before training, else 1;
    None otherwise, or when it ran no job."""
    records = []
    for path in sorted(sweep_dir.rglob(artifacts.METRICS)):
        try:
            records.append(RunRecord.read(path.parent))
        except (OSError, ValueError):
            records.append(RunRecord(status=FAILED))
    if not records or any(r.status in (COMPLETED, PRUNED) for r in records):
        return None
    counts = Counter(LEVELS.get(r.status, r.status) for r in records)
    summary = ", ".join(f"{n} {label}" for label, n in counts.items())
    refused = all(r.status in (OVER_BUDGET, FAILED) and not r.epochs_run for r in records)
    return (
        f"no job of this sweep trained to its end ({summary}); see "
        f"{sweep_dir / artifacts.LEADERBOARD} and each job's {artifacts.METRICS}.",
        2 if refused else 1,
    )
