"""A command run for a wall-clock budget, then stopped the way a person would: Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import IO

DATA = Path(__file__).resolve().parents[1] / "data"


def run_for(command: list[str], cwd: Path, seconds: float, output: IO | int) -> None:
    """Run ``command`` in ``cwd`` (MNIST from the repository's data folder, stdout and stderr to
    ``output``) for up to ``seconds``; then Ctrl-C it (a sweeper fails the trial in flight and
    stops), and kill it if it still runs a minute later."""
    proc = subprocess.Popen(
        command,
        cwd=cwd,
        env={**os.environ, "MNIST_SWEEP_DATA": str(DATA)},
        stdout=output,
        stderr=subprocess.STDOUT,
        # Ctrl-C must reach it even when this script runs in the background (SIGINT ignored)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        proc.wait(timeout=max(seconds, 0))
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
