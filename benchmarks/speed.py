"""Speed on the CPU it runs on: the default run at each precision, against one epoch of the
hand-run reference pipeline and against the CPU's arithmetic peak.

    .venv/bin/python -m benchmarks.speed                      # auto, fp32, bf16: 2 runs each
    .venv/bin/python -m benchmarks.speed --repeats 3 --docs
    .venv/bin/python -m benchmarks.speed --precisions auto fp32 \\
        --recipe wide "model.widths=[8,16,24,24,24,16]" --recipe default ""   # two recipes
    ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 \\
        .venv/bin/python -m benchmarks.speed --slow-epochs 1 --docs  # AVX-512 capped at AVX2

Each run is ``python -m mnist_sweep`` (seed 0, full data, the default recipe) in a subprocess with
a precision cache of its own, so ``auto`` pays its probe as a first run on a new machine does.
``--recipe NAME OVERRIDES`` (repeatable) times other recipes beside it, each the default with
those command-line overrides. Runs of the recipes and precisions alternate, so a slower or faster
minute of a shared machine falls on all of them; the table gives medians. bf16 on a CPU without
native bf16 instructions (several times slower than fp32) can be timed on ``--slow-epochs`` epochs
instead of the whole recipe.
Writes ``benchmarks/results/<stamp>-speed/speed.{json,md}``; ``--docs`` also puts the table
between the markers of its CPU kind in docs/benchmarks.md (``speed-avx512``,
``speed-avx2-capped``, …), or those ``--marker`` names.
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path

import torch

from benchmarks.benchmark import reference_images_per_sec
from benchmarks.markers import publish
from mnist_sweep import artifacts, machine
from mnist_sweep.data import ensure_mnist
from mnist_sweep.record import RunRecord

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
REFERENCE_IMAGES = 60_000  # one epoch of the reference pipeline
FMA_UNITS = 2  # vector FMA units per core assumed for the peak (Zen 4/5, Xeon since Skylake-SP)


def cpu_peak() -> dict:
    """The CPU's fp32 (and native bf16) peak from its flags and reported clock: cores × clock ×
    FMA lanes × 2 FLOP per FMA × FMA units."""
    flags = machine.cpu_flags()
    capped = machine.isa_capped()
    lanes = 16 if "avx512f" in flags and not capped else 8 if "fma" in flags else 4
    clock = float(machine.cpuinfo_field(machine.CPUINFO, "cpu MHz") or 0) / 1000
    cores = len(os.sched_getaffinity(0))
    fp32 = cores * clock * lanes * 2 * FMA_UNITS * 1e9
    native = bool(machine.NATIVE_BF16_FLAGS & flags) and not capped
    return {
        "cores": cores,
        "clock_ghz": round(clock, 3),
        "fp32_lanes": lanes,
        "fma_units": FMA_UNITS,
        "fp32_peak": fp32,
        "bf16_peak": 2 * fp32 if native else None,  # bf16 dot products: twice the lanes
        "native_bf16": native,
    }


def recipe_run(
    recipe: tuple[str, str], precision: str, epochs: int | None, cache: Path, out: Path
) -> dict:
    """One run of ``recipe`` (a name and its overrides of the default) at ``precision``; its
    record's timings and what it trained at."""
    name, overrides = recipe
    run_dir = out / f"{name}-{precision}-{len(list(out.glob(f'{name}-{precision}-*')))}"
    extra = [*shlex.split(overrides), *([f"trainer.epochs={epochs}"] if epochs else [])]
    cmd = [sys.executable, "-m", "mnist_sweep", f"device.precision={precision}", *extra]
    env = {**os.environ, "MNIST_SWEEP_CACHE": str(cache)}
    subprocess.run([*cmd, f"hydra.run.dir={run_dir}"], cwd=REPO, env=env, check=True,
                   capture_output=True)  # fmt: skip
    r = RunRecord.read(run_dir)
    return {
        "recipe": name,
        "overrides": overrides,
        "precision": precision,
        "used": r.precision_used,
        "epochs": r.epochs_run,
        "train_seconds": r.train_seconds,
        "wall_seconds": r.wall_seconds,
        "images_per_sec": r.images_per_sec,
        "macs": r.macs,
        "test_acc": r.test_acc,
        "bf16_speedup": r.bf16_speedup,
    }


def summarise(runs: list[dict], peak: dict, reference_s: float) -> list[dict]:
    rows = []
    for recipe, precision in dict.fromkeys((r["recipe"], r["precision"]) for r in runs):
        mine = [r for r in runs if (r["recipe"], r["precision"]) == (recipe, precision)]
        train = statistics.median(r["train_seconds"] for r in mine)
        wall = statistics.median(r["wall_seconds"] for r in mine)
        ips = statistics.median(r["images_per_sec"] for r in mine)
        achieved = mine[0]["macs"] * 2 * 3 * ips  # multiply-add = 2 FLOP; forward + backward ×3
        ceiling = peak["bf16_peak"] if mine[0]["used"] == "bf16" else peak["fp32_peak"]
        rows.append(
            {
                "recipe": recipe,
                "precision": precision,
                "used": mine[0]["used"],
                "runs": len(mine),
                "epochs": mine[0]["epochs"],
                "train_median": train,
                "per_epoch": train / mine[0]["epochs"],
                "wall_median": wall,
                "vs_reference_epoch": wall / reference_s,
                "gflops": achieved / 1e9,
                "of_peak": achieved / ceiling if ceiling else None,
                "test_acc": [r["test_acc"] for r in mine],
            }
        )
    return rows


def markdown(result: dict) -> str:
    m, p = result["machine"], result["peak"]
    bf16 = f"{p['bf16_peak'] / 1e9:,.0f}" if p["bf16_peak"] else "no native bf16"
    lines = [
        f"Measured {result['stamp']} on **{m['cpu']}, {m['cpu_capability']}** "
        f"({p['cores']} cores, torch {m['torch']}, {m['threads']} threads; "
        f"`python -m benchmarks.speed {shlex.join(result['args'])}`).",
        f"Peak: {p['cores']} cores × {p['clock_ghz']} GHz (as the OS reports it) × "
        f"{p['fp32_lanes']} fp32 lanes × 2 (FMA) × {p['fma_units']} FMA units = "
        f"{p['fp32_peak'] / 1e9:,.0f} GFLOP/s fp32; bf16: {bf16}. One epoch of the reference "
        f"pipeline (DataLoader, PIL rotation, batch 32, `seed_net`): "
        f"{result['reference_epoch_s']:.1f} s.",
    ]
    recipes = result.get("recipes", [["default", ""]])
    several = len(recipes) > 1
    if several:
        lines += ["", "Recipes (the default with these overrides):", ""]
        lines += [f"- {name}: `{overrides or '(none)'}`" for name, overrides in recipes]
    lines += [
        "",
        "| " + "recipe | " * several + "precision asked | trained at | runs | epochs | "
        "median train s | s per epoch | median whole run s | whole run ÷ reference epoch | "
        "GFLOP/s | of peak |",
        "|---" * several + "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in result["rows"]:
        share = f"{100 * r['of_peak']:.0f} %" if r["of_peak"] else "—"
        recipe = f"| {r['recipe']} " if several else ""
        lines.append(
            f"{recipe}| {r['precision']} | {r['used']} | {r['runs']} | {r['epochs']} | "
            f"{r['train_median']:.1f} | {r['per_epoch']:.2f} | {r['wall_median']:.1f} | "
            f"{r['vs_reference_epoch']:.2f} | {r['gflops']:.0f} | {share} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--precisions", nargs="+", default=["auto", "fp32", "bf16"])
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--slow-epochs", type=int, help="epochs for a precision the probe found slower")
    p.add_argument(
        "--recipe",
        nargs=2,
        action="append",
        metavar=("NAME", "OVERRIDES"),
        help="a recipe to time: a name and its overrides of the default (repeatable)",
    )
    p.add_argument("--docs", action="store_true", help="write the table into docs/benchmarks.md")
    p.add_argument("--marker", help="the docs markers' name (speed-<CPU kind>)")
    args = p.parse_args()
    recipes = [tuple(r) for r in args.recipe or [("default", "")]]
    root = Path(os.environ.get("MNIST_SWEEP_DATA", REPO / "data")).resolve()
    ensure_mnist(root)
    stamp = datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    out = RESULTS / f"{stamp}-speed"
    reference_s = REFERENCE_IMAGES / reference_images_per_sec(root, REFERENCE_IMAGES)
    peak = cpu_peak()
    runs: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeats):
            for recipe in recipes:
                for precision in args.precisions:
                    cache = Path(tmp) / f"cache-{len(runs)}"  # each run probes as on a new machine
                    slow = precision == "bf16" and not peak["native_bf16"]
                    epochs = args.slow_epochs if slow else None
                    runs.append(recipe_run(recipe, precision, epochs, cache, Path(tmp) / "runs"))
    result = {
        "stamp": stamp,
        "args": sys.argv[1:],
        "recipes": recipes,
        "machine": machine.facts(torch.device("cpu")),
        "peak": peak,
        "reference_epoch_s": reference_s,
        "runs": runs,
    }
    result["rows"] = summarise(runs, result["peak"], reference_s)
    out.mkdir(parents=True, exist_ok=True)
    artifacts.write_json(out / "speed.json", result)
    marker = args.marker or f"speed-{machine.cpu_kind()}"
    publish(markdown(result), out / "speed.md", f"<!-- {marker}:start -->",
            f"<!-- {marker}:end -->", args.docs)  # fmt: skip


if __name__ == "__main__":
    main()
