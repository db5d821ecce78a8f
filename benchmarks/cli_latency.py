"""How long the command line takes to answer without training: ``--help`` and a refused override.

    python -m benchmarks.cli_latency [--rounds 7] [--checkout DIR ...]

Each checkout (default: this one) is a folder holding the package and its ``conf/``; the commands
run from it with this interpreter, the checkouts taking turns round by round so that they share
the machine's state. Prints the median, min and max wall seconds per command and checkout, and the
CPU it ran on.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mnist_sweep.machine import cpu_name

COMMANDS = {
    "--help": ["--help"],
    "refused override": ["model.widths=abc", "hydra.run.dir={tmp}/run{n}"],
}


def seconds(checkout: Path, args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "mnist_sweep", *args], cwd=checkout, capture_output=True, check=False
    )
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--checkout", type=Path, action="append")
    args = parser.parse_args(argv)
    checkouts = [c.resolve() for c in args.checkout or [Path(__file__).resolve().parents[1]]]
    times: dict[tuple[str, Path], list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(args.rounds):
            for checkout in checkouts:
                for name, command in COMMANDS.items():
                    filled = [
                        a.format(tmp=tmp, n=f"{n}-{checkouts.index(checkout)}") for a in command
                    ]
                    times.setdefault((name, checkout), []).append(seconds(checkout, filled))
    print(f"{cpu_name()}, {args.rounds} rounds")
    for (name, checkout), values in times.items():
        print(
            f"{checkout.name:>20}  {name:<17} median {statistics.median(values):.2f} s  "
            f"(min {min(values):.2f}, max {max(values):.2f})"
        )


if __name__ == "__main__":
    main()
