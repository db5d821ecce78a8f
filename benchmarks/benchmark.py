"""Throughput against the reference pipeline, and time-to-target over seeds.

    .venv/bin/python -m benchmarks.benchmark                       # both parts, default recipe
    .venv/bin/python -m benchmarks.benchmark --experiments default tiny seed:0 --seeds 0 1 2
    .venv/bin/python -m benchmarks.benchmark --skip-throughput --docs
    .venv/bin/python -m benchmarks.benchmark --experiments default tiny \
        --carry benchmarks/results/<stamp>/benchmark.json best seed   # unchanged rows carried over
    .venv/bin/python -m benchmarks.benchmark --render benchmarks/results/<stamp> --docs \
        --carry benchmarks/results/<other>/benchmark.json seed        # a row measured later
    .venv/bin/python -m benchmarks.benchmark --render benchmarks/results/<stamp> --docs \
        --from-runs tiny multirun/<date>/<time>     # a preset's row from its confirmation runs
                                                    # (several folders: one recipe's parts)

Writes ``benchmarks/results/<stamp>.json`` and ``.md``; ``--docs`` also replaces the table
between the benchmark markers in docs/benchmarks.md. Not part of the test suite: it trains full
models.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import torch
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from torch.nn import functional as F

from benchmarks.markers import publish
from mnist_sweep import artifacts, models
from mnist_sweep import machine as mnist_machine
from mnist_sweep.config import recipe, to_plain
from mnist_sweep.data import ensure_mnist
from mnist_sweep.formats import seed_list
from mnist_sweep.groups import CONF
from mnist_sweep.record import DEFAULT_BUDGET, RunRecord
from mnist_sweep.run import execute

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
MEAN, STD = 0.1307, 0.3081
# the record fields each time-to-target row keeps per run
RECORDED = (
    "test_acc",
    "best_test_acc",
    "params",
    "epochs",
    "wall_seconds",
    "train_seconds",
    "precision_used",
)
START, END = "<!-- benchmark:start -->", "<!-- benchmark:end -->"


def machine() -> dict:
    return mnist_machine.facts(torch.device("cpu")) | {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
    }


def preset(name: str) -> dict:
    return yaml.safe_load((CONF / "model" / f"{name}.yaml").read_text())


def reference_images_per_sec(root: Path, images: int) -> float:
    """The hand-run pipeline: torchvision MNIST, PIL transforms, a DataLoader, batch 32."""
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    tf = transforms.Compose(
        [
            transforms.RandomRotation(20),
            transforms.ToTensor(),
            transforms.Normalize((MEAN,), (STD,)),
        ]
    )
    loader = DataLoader(
        datasets.MNIST(str(root), train=True, transform=tf), batch_size=32, shuffle=True
    )
    torch.manual_seed(0)
    model = models.ConvNet(**preset("seed_net"))
    opt = torch.optim.SGD(model.parameters(), lr=0.001, momentum=0.9)
    model.train()
    seen, start = 0, time.perf_counter()
    for x, y in loader:
        opt.zero_grad()
        F.nll_loss(model(x), y).backward()
        opt.step()
        seen += len(y)
        if seen >= images:
            break
    return seen / (time.perf_counter() - start)


def compose_config(overrides: list[str]) -> dict:
    """The config ``python -m mnist_sweep OVERRIDES`` would train, as plain data."""
    with initialize_config_dir(config_dir=str(CONF)):
        return to_plain(compose("config", overrides=overrides))


def engine_images_per_sec(
    root: Path, images: int, batch: int, precision: str, model_name: str = "seed_net"
) -> tuple[float, str]:
    """One training pass of ``run.execute`` (resident tensors, per-batch augmentation), with
    the reference's model, optimizer and rotation; its record's images/s and precision used."""
    overrides = [
        f"data.root={root}",
        f"data.train_subset={images}",
        f"model={model_name}",
        "aug=rotate",
        "aug.rotate.degrees=20",
        "sched=none",
        "optim.lr=0.001",
        "optim.nesterov=false",
        "optim.weight_decay=0",
        "trainer.epochs=1",
        f"trainer.batch_size={batch}",
        "device=cpu",
        f"device.precision={precision}",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        record = execute(compose_config(overrides), Path(tmp) / "run")
    return record.images_per_sec, record.precision_used


def throughput(root: Path, images: int) -> dict:
    ref = reference_images_per_sec(root, images)
    rows = {"reference (DataLoader, PIL, batch 32, fp32)": ref}
    for batch, precision in ((32, "fp32"), (128, "fp32"), (128, "auto"), (256, "auto")):
        ips, used = engine_images_per_sec(root, images, batch, precision)
        asked = f"{precision} → {used}" if precision != used else used
        rows[f"mnist_sweep engine (batch {batch}, {asked})"] = ips
    ips, used = engine_images_per_sec(root, images, 256, "auto", "lean")
    rows[f"the default model, `lean`, instead (batch 256, auto → {used})"] = ips
    return {
        "images": images,
        "model": "seed_net",
        "rows": [
            {"pipeline": k, "images_per_sec": round(v, 1), "ratio": round(v / ref, 2)}
            for k, v in rows.items()
        ],
    }


def run_experiment(name: str, seed: int, out: Path, extra: list[str]) -> dict:
    overrides = ([] if name == "default" else [f"experiment={name}"]) + extra
    run_dir = out / f"{name}-seed{seed}"
    cmd = [
        sys.executable,
        "-m",
        "mnist_sweep",
        *overrides,
        f"trainer.seed={seed}",
        f"hydra.run.dir={run_dir}",
    ]
    subprocess.run(cmd, cwd=REPO, check=True, capture_output=True)
    record = RunRecord.read(run_dir)
    return {k: getattr(record, k) for k in RECORDED} | {"seed": seed}


PHASES = ("augment", "forward", "backward", "optimizer", "evaluate")
FAMILIES = {  # aten op name fragments → layer family, first match wins
    "convolution": "convolution",
    "batch_norm": "BatchNorm",
    "threshold_backward": "ReLU",
    "clamp_min": "ReLU",
    "relu": "ReLU",
    "max_pool": "max-pool",
    "grid_sampler": "augmentation (affine)",
    "affine_grid": "augmentation (affine)",
    "bmm": "augmentation (affine)",
    "index": "batch slicing",
    "log_softmax": "loss",
    "nll_loss": "loss",
    "addmm": "linear head",
    "mm": "linear head",
    "fill_": "zeroing buffers",
    "copy_": "copies (bf16 casts, channels-last)",
    "_to_copy": "copies (bf16 casts, channels-last)",
    "div": "normalising, centring",
    "sub": "normalising, centring",
    "sgd": "optimizer",
    "_foreach": "optimizer",
}


def profile_epoch(root: Path, images: int) -> dict:
    """One epoch of the default recipe under ``torch.profiler``: the share of the step phases
    (labelled in engine.fit) and of each layer family's own CPU time."""
    from torch.profiler import ProfilerActivity, profile

    overrides = [f"data.root={root}", f"data.train_subset={images}", "trainer.epochs=1"]
    config = compose_config([*overrides, "device=cpu"])
    with tempfile.TemporaryDirectory() as tmp, profile(activities=[ProfilerActivity.CPU]) as prof:
        execute(config, Path(tmp) / "run")
    events = prof.key_averages()
    phase_time = {e.key: e.cpu_time_total for e in events if e.key in PHASES}
    total = sum(phase_time.values())
    families: dict[str, float] = {}
    for e in events:
        if e.key.startswith("aten::") or e.key.startswith("Optimizer"):
            name = e.key.lower()
            family = next((f for k, f in FAMILIES.items() if k in name), "other")
            families[family] = families.get(family, 0.0) + e.self_cpu_time_total
    own = sum(families.values())
    return {
        "images": images,
        "threads": torch.get_num_threads(),
        "phases": {p: phase_time.get(p, 0.0) / total for p in PHASES},
        "families": dict(sorted(((f, t / own) for f, t in families.items()), key=lambda x: -x[1])),
    }


def parse_experiment(spec: str, seeds: list[int]) -> tuple[str, list[int]]:
    """``name`` runs ``seeds``; ``name:0-9`` or ``name:0,3,5`` runs the seeds it names."""
    name, _, only = spec.partition(":")
    if not only:
        return name, seeds
    picked: list[int] = []
    for part in only.split(","):
        lo, _, hi = part.partition("-")
        picked += list(range(int(lo), int(hi or lo) + 1))
    return name, picked


def summarise(name: str, runs: list[dict], extra: list[str]) -> dict:
    """One time-to-target row: an experiment's runs over its seeds."""
    accs = [r["test_acc"] for r in runs]
    worst = min(runs, key=lambda r: r["test_acc"])
    return {
        "experiment": name,
        "overrides": extra,
        "params": runs[0]["params"],
        "epochs": runs[0]["epochs"],
        "precision": runs[0].get("precision_used", runs[0].get("precision")),
        "runs": runs,
        "acc_mean": statistics.mean(accs),
        "acc_std": statistics.stdev(accs) if len(accs) > 1 else 0.0,
        "acc_worst": worst["test_acc"],
        "worst_seed": worst["seed"],
        "best_mean": statistics.mean(r["best_test_acc"] for r in runs),
        "train_median": statistics.median(r["train_seconds"] for r in runs),
        "wall_median": statistics.median(r["wall_seconds"] for r in runs),
    }


def time_to_target(
    experiments: list[str], seeds: list[int], out: Path, extra: list[str]
) -> list[dict]:
    table = []
    for spec in experiments:
        name, chosen = parse_experiment(spec, seeds)
        table.append(summarise(name, [run_experiment(name, s, out, extra) for s in chosen], extra))
    return table


def from_runs(name: str, sweeps: list[Path]) -> dict:
    """A row for preset ``name`` (``default``: no preset) from finished runs below ``sweeps`` (e.g.
    a confirmation's, in one folder or split over several), each checked to have trained exactly
    the preset's recipe; a precision asked for explicitly is allowed and shown in the row."""
    runs, asked = [], set()
    preset = [] if name == "default" else [f"experiment={name}"]
    for metrics in sorted(m for sweep in sweeps for m in sweep.glob("*/metrics.json")):
        record = RunRecord.read(metrics.parent)
        trained = to_plain(OmegaConf.load(metrics.parent / ".hydra" / "config.yaml"))
        precision = f"device.precision={trained['device']['precision']}"
        expected = compose_config([*preset, f"trainer.seed={record.seed}", precision])
        if recipe(trained) != recipe(expected):
            sys.exit(f"{metrics.parent} did not train {name}'s recipe.")
        runs.append({k: getattr(record, k) for k in RECORDED} | {"seed": record.seed})
        asked.add(precision)
    if not runs:
        sys.exit(f"{' '.join(map(str, sweeps))} holds no finished run.")
    shown = sorted(asked - {"device.precision=auto"})
    runs.sort(key=lambda r: r["seed"])
    folders = ", ".join(map(str, sweeps))
    own = {"cpu": record.cpu, "cpu_capability": record.cpu_capability, "threads": record.threads}
    return summarise(name, runs, shown) | {
        "from_runs": folders,
        "threads": record.threads,
        "machine": own,  # the runs' own machine, not the one this result was measured on
    }


def reached(row: dict) -> bool:
    return all(r["test_acc"] >= DEFAULT_BUDGET.target_acc for r in row["runs"])


def label(row: dict) -> str:
    """A time-to-target row's experiment and the overrides it ran with, as Markdown code."""
    return " ".join(f"`{x}`" for x in [row["experiment"], *row.get("overrides", [])])


def markdown(result: dict) -> str:
    m = result["machine"]
    kind = f", {m['cpu_capability']}" if "cpu_capability" in m else ""
    lines = [
        f"Measured {result['stamp']} on {m['cpu']}{kind} ({m['cores']} cores, torch {m['torch']})."
    ]
    if "throughput" in result:
        lines += [
            "",
            f"**Throughput**, one training pass over {result['throughput']['images']:,} "
            "images with random rotation (`seed_net` unless named):",
            "",
            "| pipeline | images/s | × reference |",
            "|---|---:|---:|",
        ]
        lines += [
            f"| {r['pipeline']} | {r['images_per_sec']:,.0f} | {r['ratio']:.2f} |"
            for r in result["throughput"]["rows"]
        ]
    if "profile" in result:
        prof = result["profile"]
        lines += [
            "",
            f"**Where one epoch goes** (`torch.profiler`, the default recipe, one epoch over "
            f"{prof['images']:,} images, {prof['threads']} threads; the profiler's own overhead "
            "inflates every figure, so read the shares):",
            "",
            "| phase of a step | share | | layer family (self time) | share |",
            "|---|---:|---|---|---:|",
        ]
        phases, families = list(prof["phases"].items()), list(prof["families"].items())
        for i in range(max(len(phases), len(families))):
            left = f"{phases[i][0]} | {100 * phases[i][1]:.1f} %" if i < len(phases) else " | "
            right = (
                f"{families[i][0]} | {100 * families[i][1]:.1f} %" if i < len(families) else " | "
            )
            lines.append(f"| {left} | | {right} |")
    if result.get("time_to_target"):
        lines += [
            "",
            "**Time to target**: final-epoch test accuracy on all 10,000 test images (mean ± std "
            "over the seeds, and the worst seed); best-epoch accuracy only beside it; training "
            "seconds (the training passes alone) and wall seconds of the whole run (start-up, "
            "data, training, per-epoch evaluation, artifacts, report):",
            "",
            "| experiment | params | epochs | precision | seeds | final accuracy, mean ± std | "
            "worst seed | best-epoch mean | median train s | median wall s | all ≥ target |",
            "|---|---:|---:|---|---|---:|---:|---:|---:|---:|:-:|",
        ]
        carried = sorted({t["stamp"] for t in result["time_to_target"] if "stamp" in t})
        confirmed = [t for t in result["time_to_target"] if "from_runs" in t]
        for t in result["time_to_target"]:
            mark = " †" if "stamp" in t else " ‡" if "from_runs" in t else ""
            mark += "".join(f" `{o}`" for o in t.get("overrides", []))
            seeds = [r["seed"] for r in t["runs"]]
            lines.append(
                f"| `{t['experiment']}`{mark} | {t['params']:,} | {t['epochs']} | "
                f"{t['precision']} | {seed_list(seeds)} | {100 * t['acc_mean']:.2f} ± "
                f"{100 * t['acc_std']:.2f} | {100 * t['acc_worst']:.2f} (seed {t['worst_seed']}) "
                f"| {100 * t['best_mean']:.2f} | {t['train_median']:.1f} | "
                f"{t['wall_median']:.1f} | {'yes' if reached(t) else 'no'} |"
            )
        lines += ["", "Final-epoch accuracy per seed:", ""]
        for t in result["time_to_target"]:
            accs = ", ".join(f"{r['seed']}: {100 * r['test_acc']:.2f}" for r in t["runs"])
            lines.append(f"- {label(t)}: {accs}")
        if carried:
            lines += ["", f"† carried over unchanged from the run of {', '.join(carried)}."]
        for t in confirmed:
            lines += [
                "",
                f"‡ {label(t)}: the runs of its confirmation, {t['from_runs']} "
                f"({ran_on(t)}{t['threads']} thread each, beside other jobs: its seconds are not "
                "comparable with the rows above).",
            ]
    return "\n".join(lines) + "\n"


def ran_on(row: dict) -> str:
    """A confirmation row's own CPU, where its runs recorded it, as the start of a note."""
    m = row.get("machine") or {}
    if not m.get("cpu"):
        return ""
    return f"on {m['cpu']}" + (f", {m['cpu_capability']}" if m.get("cpu_capability") else "") + ", "


def carry(path: Path, names: list[str]) -> list[dict]:
    """Rows of an earlier benchmark.json, for experiments whose config has not changed since."""
    earlier = json.loads(path.read_text())
    rows = {t["experiment"]: t for t in earlier["time_to_target"]}
    missing = [n for n in names if n not in rows]
    if missing:
        sys.exit(f"{path} has no time-to-target rows for {missing}; it has {sorted(rows)}.")
    carried = [{"stamp": earlier["stamp"], "machine": earlier["machine"]} | rows[n] for n in names]
    for t in carried:  # rows written by earlier versions of this script lack some summaries
        runs, accs = t["runs"], [r["test_acc"] for r in t["runs"]]
        worst = min(runs, key=lambda r: r["test_acc"])
        t.setdefault("train_median", statistics.median(r["train_seconds"] for r in runs))
        t.setdefault("acc_mean", statistics.mean(accs))
        t.setdefault("acc_std", statistics.stdev(accs) if len(accs) > 1 else 0.0)
        t.setdefault("worst_seed", worst["seed"])
        t.setdefault("best_mean", statistics.mean(r["best_test_acc"] for r in runs))
    return carried


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--experiments",
        nargs="*",
        default=["default"],
        help="experiment presets to time ('default' = no preset), each optionally with its "
        "seeds: default:0-9 seed:0,1,2",
    )
    p.add_argument(
        "--seeds", nargs="*", type=int, default=[0, 1, 2], help="for experiments without :SEEDS"
    )
    p.add_argument("--images", type=int, default=60_000, help="images per throughput pass")
    p.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="overrides added to every time-to-target run (shown in the table)",
    )
    p.add_argument("--skip-throughput", action="store_true")
    p.add_argument("--skip-profile", action="store_true")
    p.add_argument("--docs", action="store_true", help="write the table into docs/benchmarks.md")
    p.add_argument(
        "--render",
        type=Path,
        metavar="RESULT_DIR",
        help="run nothing: re-render an earlier result folder's table (with --carry and "
        "--from-runs rows added) into a new folder",
    )
    p.add_argument(
        "--carry",
        nargs="+",
        metavar=("JSON", "EXPERIMENT"),
        help="an earlier benchmark.json, then the experiments whose rows to take from it",
    )
    p.add_argument(
        "--from-runs",
        nargs="+",
        action="append",
        default=[],
        metavar=("EXPERIMENT", "SWEEP_DIR"),
        help="a preset's row from the finished runs of sweep folders that trained its recipe",
    )
    args = p.parse_args()

    if args.render:  # into a folder of its own: the earlier result stays as it was measured
        result = json.loads((args.render / "benchmark.json").read_text())
        out = RESULTS / f"{datetime.now().strftime('%Y-%m-%d_%H-%M-%S')}-render"
        result["rendered_from"] = str(args.render)
        if args.carry:
            carried = carry(Path(args.carry[0]), args.carry[1:])
            names = {t["experiment"] for t in carried}
            kept = [t for t in result["time_to_target"] if t["experiment"] not in names]
            result["time_to_target"] = kept + carried
        add_from_runs(result, args.from_runs)
        finish(result, out, args.docs)
        return
    root = Path(os.environ.get("MNIST_SWEEP_DATA", REPO / "data")).resolve()
    ensure_mnist(root)
    stamp = datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    out = RESULTS / stamp
    result: dict = {"stamp": stamp, "machine": machine()}
    if not args.skip_throughput:
        result["throughput"] = throughput(root, args.images)
    if not args.skip_profile:
        result["profile"] = profile_epoch(root, args.images)
    result["time_to_target"] = time_to_target(args.experiments, args.seeds, out / "runs", args.set)
    if args.carry:
        result["time_to_target"] += carry(Path(args.carry[0]), args.carry[1:])
    add_from_runs(result, args.from_runs)
    finish(result, out, args.docs)


def add_from_runs(result: dict, specs: list[list[str]]) -> None:
    """Replace (or add) the rows of ``--from-runs`` presets."""
    if any(len(spec) < 2 for spec in specs):
        sys.exit("--from-runs takes a preset's name, then one or more sweep folders.")
    rows = [from_runs(name, [Path(s) for s in sweeps]) for name, *sweeps in specs]
    names = {r["experiment"] for r in rows}
    result["time_to_target"] = [
        t for t in result["time_to_target"] if t["experiment"] not in names
    ] + rows


def finish(result: dict, out: Path, docs: bool) -> None:
    """Write the result's JSON and table into ``out`` (and docs/benchmarks.md with ``docs``)."""
    out.mkdir(parents=True, exist_ok=True)
    artifacts.write_json(out / "benchmark.json", result)
    publish(markdown(result), out / "benchmark.md", START, END, docs)


if __name__ == "__main__":
    main()
