"""The CPU speed knobs of the default model, each measured against its alternative in one process:
channels-last activations, the evaluation batch size, torch.compile, and the thread count.

    .venv/bin/python -m benchmarks.knobs [--compile] [--docs]
    ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 .venv/bin/python -m benchmarks.knobs

Training steps (batch 256, SGD) and evaluation passes over 10,000 images alternate between the
settings compared, ROUNDS times; the table gives medians in milliseconds and names the CPU. Writes
``benchmarks/results/<stamp>-knobs/knobs.md``; ``--docs`` also puts it between the markers of its
CPU kind in docs/benchmarks.md.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import torch
import yaml
from torch.nn import functional as F

from benchmarks.markers import publish
from mnist_sweep import engine, machine, models

REPO = Path(__file__).resolve().parents[1]
ROUNDS, STEPS = 5, 5


def default_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return models.ConvNet(**yaml.safe_load((REPO / "conf/model/lean.yaml").read_text()))


def timed(fn: Callable[[], object], steps: int = STEPS) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        fn()
    return (time.perf_counter() - start) * 1000 / steps


def train_step(model: torch.nn.Module, precision: str, layout: torch.memory_format) -> Callable:
    model = model.to(memory_format=layout)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(256, 1, 28, 28).contiguous(memory_format=layout)
    y = torch.randint(0, 10, (256,))

    def step() -> None:
        with engine.autocast(torch.device("cpu"), precision):
            loss = F.cross_entropy(model(x).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def compare(settings: dict[str, Callable[[], float]]) -> dict[str, float]:
    """Median of ROUNDS alternating measurements of each setting (after one warm-up each)."""
    for fn in settings.values():
        fn()
    samples: dict[str, list[float]] = {k: [] for k in settings}
    for _ in range(ROUNDS):
        for name, fn in settings.items():
            samples[name].append(fn())
    return {k: statistics.median(v) for k, v in samples.items()}


def main() -> None:
    cpu = torch.device("cpu")
    precision, _ = machine.choose_precision("auto", cpu, default_model(), 256)
    print(f"{machine.cpu_name()}, {machine.cpu_capability()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; auto → {precision}")  # fmt: skip
    results: dict[str, dict[str, float]] = {}

    for p in ("fp32", "bf16"):
        steps = {
            f"{p} channels-last": train_step(default_model(), p, torch.channels_last),
            f"{p} contiguous (NCHW)": train_step(default_model(), p, torch.contiguous_format),
        }
        results[f"train step, {p}"] = compare({k: lambda s=s: timed(s) for k, s in steps.items()})

    model = default_model().to(memory_format=torch.channels_last)
    x = torch.randn(10_000, 1, 28, 28).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (10_000,))
    results[f"evaluate 10,000 images, {precision}"] = compare(
        {
            f"batch {b}": lambda b=b: timed(lambda: engine.evaluate(model, x, y, precision, b), 1)
            for b in (500, 1000, 2000, 5000, 10_000)
        }
    )

    if "--compile" in sys.argv:  # inductor's first compile takes minutes on a small CPU
        eager = train_step(default_model(), precision, torch.channels_last)
        compiled_model = torch.compile(default_model())
        start = time.perf_counter()
        compiled = train_step(compiled_model, precision, torch.channels_last)
        compiled()
        compile_s = time.perf_counter() - start
        results[f"train step, {precision}, torch.compile (first step {compile_s:.1f} s)"] = compare(
            {"eager": lambda: timed(eager), "compiled": lambda: timed(compiled)}
        )

    threads = torch.get_num_threads()
    by_threads = {}
    for n in sorted({1, threads}):
        torch.set_num_threads(n)
        by_threads[f"{n} threads"] = timed(train_step(default_model(), precision,
                                                      torch.channels_last), 3 * STEPS)  # fmt: skip
    torch.set_num_threads(threads)
    results[f"train step, {precision}, threads"] = by_threads

    flags = " ".join(a for a in sys.argv[1:] if a != "--docs")
    lines = [
        f"Measured {datetime.now():%Y-%m-%d %H:%M} on **{machine.cpu_name()}, "
        f"{machine.cpu_capability()}** (torch {torch.__version__}, {threads} threads; `auto` → "
        f"{precision}; `python -m benchmarks.knobs {flags}`).",
        "",
        "| what | setting | median ms | × fastest |",
        "|---|---|---:|---:|",
    ]
    for name, row in results.items():
        best = min(row.values())
        lines += [f"| {name} | {k} | {ms:.2f} | {ms / best:.2f} |" for k, ms in row.items()]
    marker = f"knobs-{machine.cpu_kind()}"
    stamp = f"{datetime.now():%Y-%m-%d_%H-%M-%S}"
    out = REPO / "benchmarks" / "results" / f"{stamp}-knobs"
    out.mkdir(parents=True, exist_ok=True)
    publish("\n".join(lines) + "\n", out / "knobs.md", f"<!-- {marker}:start -->",
            f"<!-- {marker}:end -->", "--docs" in sys.argv)  # fmt: skip


if __name__ == "__main__":
    main()
