"""The smoke step of the records search: how fast a records trial trains on this machine, alone and
beside others, and the search that fits in the seconds it is given.

    python smoke.py --device cuda --search-seconds 240 --out OUT      # in .gpu/code, by records.sh

Each round starts K processes at once, each a one-epoch run of a records layout at one batch size
(``python -m mnist_sweep``), and reads the training images per second each run records. First K =
1, half the cores and all of them at batch 256; then, at the K with the most images per second in
total, every other batch size of the search. From these it plans the search (``plan``): trials at
once (half of K per study, two studies at once), the batch sizes whose longest trial fits in a third
of the search, and the sweeper's timeout, after which no trial starts, so that the trials in flight
end within the search's seconds. Writes OUT/smoke.csv and OUT/smoke.md, and prints the plan as
shell assignments for records.sh to ``eval``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

# a records trial, one epoch: the study's best layout under 5,000 parameters (the published
# 3,762-parameter layout with the 3x3 convs of blocks 2 and 3 depthwise-separable at 20 channels,
# 3,946 parameters), its augmentations, validation split and evaluation
LAYOUT = [
    "model=ref3762",
    "model.widths=[4,4,4,20,20,20,20,20,20]",
    "model.separable=[false,true,true]",
    "aug=[affine,intensity]",
    "data.val_size=10000",
    "trainer.test_every=0",
    "trainer.ema=0",
    "device.threads=1",
    "trainer.epochs=1",
]
BATCHES = (64, 128, 256, 512)  # the search's batch sizes, smallest first
PROBE_BATCH = 256  # the batch size at which the number of processes is chosen


@dataclass(frozen=True)
class Plan:
    slots: int  # trials at once in each of the two studies
    batches: tuple[int, ...]  # the batch sizes the search may choose
    max_epochs: int
    timeout: int  # seconds after which the sweeper starts no trial
    longest: int  # seconds of the longest trial the search may start
    expected: int  # trials both studies complete, estimated

    def __str__(self) -> str:
        return (
            f"{self.slots} trials at a time in each study, batch sizes "
            f"{', '.join(map(str, self.batches))}, at most {self.max_epochs} epochs; no trial "
            f"starts after {self.timeout} s (the longest: {self.longest} s); about "
            f"{self.expected} trials in both studies"
        )

    def shell(self) -> str:
        return (
            f"SLOTS={self.slots} BATCHES={','.join(map(str, self.batches))} "
            f"MAX_EPOCHS={self.max_epochs} TIMEOUT={self.timeout} EXPECTED={self.expected}"
        )


def trial_seconds(rate: float, batch: int, epochs: int, images: int, overhead: float) -> float:
    """A trial's seconds at ``rate`` images per second per process: its epochs over the training
    split (whole batches only) and the fixed cost of a process (start, data, evaluation)."""
    return epochs * (images // batch) * batch / rate + overhead


def processes(rows: pd.DataFrame) -> int:
    """The number of processes with the most images per second in total at the probe's batch
    size; the fewer, where within 5 % of the most."""
    probe = rows[rows["batch"] == PROBE_BATCH].groupby("procs")["images_per_sec"].median()
    total = probe * probe.index
    return int(min(k for k, t in total.items() if t >= 0.95 * total.max()))


def plan(
    rows: pd.DataFrame,
    *,
    search_seconds: float,
    images: int,
    max_epochs: int,
    min_epochs: int,
    overhead: float,
) -> Plan:
    """The search that fits ``search_seconds``, from the smoke's rows (``procs``, ``batch``,
    ``images_per_sec`` per process, one row per run)."""
    per_proc = rows.groupby(["procs", "batch"])["images_per_sec"].median()
    procs = processes(rows)
    rates = {b: r for (k, b), r in per_proc.items() if k == procs}
    longest_at = {b: trial_seconds(r, b, max_epochs, images, overhead) for b, r in rates.items()}
    fits = {b: s for b, s in longest_at.items() if s <= search_seconds / 3}
    if not fits:  # nothing fits: the fastest batch at the fewest epochs, however long
        fastest = max(rates, key=lambda b: rates[b])
        fits = {fastest: trial_seconds(rates[fastest], fastest, min_epochs, images, overhead)}
        max_epochs = min_epochs
    longest = max(fits.values())
    mean_epochs = (min_epochs + max_epochs) / 2
    mean_trial = sum(trial_seconds(rates[b], b, mean_epochs, images, overhead) for b in fits) / len(
        fits
    )
    slots = max(1, procs // 2)
    return Plan(
        slots=slots,
        batches=tuple(sorted(fits)),
        max_epochs=max_epochs,
        timeout=max(1, int(search_seconds - longest)),
        longest=math.ceil(longest),
        expected=int(2 * slots * search_seconds / mean_trial),
    )


def run_round(py: str, procs: int, batch: int, extra: list[str], root: Path) -> list[dict]:
    """``procs`` one-epoch runs at once; one row per run."""
    folders = [root / f"k{procs}_b{batch}_{i}" for i in range(procs)]
    started = time.perf_counter()
    jobs = [
        subprocess.Popen(
            [
                py,
                "-m",
                "mnist_sweep",
                *LAYOUT,
                *extra,
                f"trainer.batch_size={batch}",
                f"trainer.seed={i}",
                f"hydra.run.dir={folder}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for i, folder in enumerate(folders)
    ]
    codes = [job.wait() for job in jobs]
    wall = time.perf_counter() - started
    rows = []
    for folder, code in zip(folders, codes, strict=True):
        metrics = folder / "metrics.json"
        m = json.loads(metrics.read_text()) if metrics.exists() else {}
        rows.append(
            {
                "procs": procs,
                "batch": batch,
                "exit": code,
                "images_per_sec": m.get("images_per_sec"),
                "train_seconds": m.get("train_seconds"),
                "wall_seconds": m.get("wall_seconds"),
                "round_seconds": round(wall, 1),
                "gpu": m.get("gpu"),
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--search-seconds", type=float, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--procs", type=int, nargs="+", help="default: 1, half the cores, all")
    ap.add_argument("--subset", type=int, default=20_000, help="training images of a smoke run")
    ap.add_argument("--set", nargs="*", default=[], help="more overrides for every run")
    ap.add_argument("--images", type=int, default=50_000, help="training images of a trial")
    ap.add_argument("--epochs", type=int, nargs=2, default=(5, 15), metavar=("MIN", "MAX"))
    ap.add_argument("--overhead", type=float, default=15.0, help="fixed seconds of a trial")
    ap.add_argument("--py", default=sys.executable)
    args = ap.parse_args(argv)

    cores = os.cpu_count() or 1
    procs = args.procs or sorted({1, max(1, cores // 2), cores})
    extra = [f"device={args.device}", f"data.train_subset={args.subset}", *args.set]
    root = Path("runs/smoke")
    rows = []
    for k in procs:
        rows += run_round(args.py, k, PROBE_BATCH, extra, root)
    table = pd.DataFrame(rows)
    if table["images_per_sec"].isna().all():
        print("SMOKE FAILED: no run finished; see the runs under runs/smoke", file=sys.stderr)
        return 1
    chosen = processes(table.dropna(subset=["images_per_sec"]))
    for b in BATCHES:
        if b != PROBE_BATCH:
            rows += run_round(args.py, chosen, b, extra, root)
    table = pd.DataFrame(rows).dropna(subset=["images_per_sec"])
    p = plan(
        table,
        search_seconds=args.search_seconds,
        images=args.images,
        max_epochs=args.epochs[1],
        min_epochs=args.epochs[0],
        overhead=args.overhead,
    )
    args.out.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(args.out / "smoke.csv", index=False)
    summary = (
        table.groupby(["procs", "batch"])["images_per_sec"].agg(["size", "median"]).reset_index()
    )
    lines = [
        "| processes | batch | runs | images/s per process | images/s in all |",
        "|---:|---:|---:|---:|---:|",
        *(
            f"| {r.procs} | {r.batch} | {r.size} | {r.median:,.0f} | {r.procs * r.median:,.0f} |"
            for r in summary.itertuples()
        ),
    ]
    gpu = table["gpu"].dropna()
    machine = gpu.iloc[0] if len(gpu) else f"{args.device}, {cores} cores"
    sized = f"For a search of {args.search_seconds:.0f} s: {p}."
    (args.out / "smoke.md").write_text(f"{machine}\n\n" + "\n".join(lines) + f"\n\n{sized}\n")
    print("\n".join(lines), file=sys.stderr)
    print(p.shell())
    return 0


if __name__ == "__main__":
    sys.exit(main())
