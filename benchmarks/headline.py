"""The README's headline table, generated from measured results, never typed by hand.

    .venv/bin/python -m benchmarks.headline SOURCE [SOURCE …] [--note SOURCE TEXT] [--readme]

Each SOURCE is a ``benchmark.json`` written by ``benchmarks/benchmark.py`` (one row per
time-to-target experiment) or a run's ``metrics.json`` (one row: that run). Every row names the
machine it ran on (CPU or GPU; the CPU's kernel capability and the precision used where the result
records them; cores and threads) and its seeds. ``--note SOURCE TEXT`` adds a
footnote to that source's rows. Prints the table; ``--readme`` puts it between the headline
markers of README.md, with the command that wrote it.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
from pathlib import Path

from benchmarks.markers import README, write_between
from mnist_sweep.formats import num, pct, seed_list

START, END = "<!-- headline:start -->", "<!-- headline:end -->"
HEADER = [
    "| recipe | params | epochs | machine | seeds | final test accuracy, mean ± std | worst seed "
    "| median train s |",
    "|---|---:|---:|---|---|---:|---:|---:|",
]


def cpu_machine(machine: dict, threads: int, precision: str | None = None) -> str:
    """The CPU, its kernel capability where recorded, the precision trained at, cores, threads."""
    cpu = machine["cpu"]
    if machine.get("cpu_capability"):
        cpu += f" ({machine['cpu_capability']})"
    if precision and machine.get("cpu_capability"):
        cpu += f", {precision}"
    cores = f"{machine['cores']} cores, " if machine.get("cores") else ""  # a run records none
    return f"{cpu}, {cores}{threads} thread{'s' * (threads > 1)}"


def benchmark_rows(result: dict) -> list[dict]:
    """One row per time-to-target experiment of a ``benchmark.json``."""
    return [
        {
            "recipe": t["experiment"],
            "params": t["params"],
            "epochs": t["epochs"],
            "machine": cpu_machine(
                t.get("machine", result["machine"]),  # a row carried over: its own machine
                t.get("threads", t.get("machine", result["machine"])["threads"]),
                t.get("precision"),
            ),
            "seeds": [r["seed"] for r in t["runs"]],
            "accs": [r["test_acc"] for r in t["runs"]],
            "train": t["train_median"],
        }
        for t in result["time_to_target"]
    ]


def metrics_row(record: dict) -> dict:
    """One run's ``metrics.json`` as a row."""
    on = record.get("gpu") if record.get("device") == "cuda" else record.get("cpu")
    return {
        "recipe": (record.get("choices") or {}).get("experiment") or "default",
        "params": record["params"],
        "epochs": record["epochs"],
        "machine": f"{on}, torch {record['torch']}",
        "seeds": [record["seed"]],
        "accs": [record["test_acc"]],
        "train": record["train_seconds"],
    }


def rows_of(path: Path) -> list[dict]:
    data = json.loads(path.read_text())
    return benchmark_rows(data) if "time_to_target" in data else [metrics_row(data)]


def table(sources: list[Path], notes: dict[Path, str]) -> str:
    lines, footnotes = list(HEADER), []
    for path in sources:
        mark = ""
        if path in notes:
            footnotes.append(notes[path])
            mark = " " + "¹²³⁴⁵"[len(footnotes) - 1]
        for r in rows_of(path):
            accs = r["accs"]
            spread = f" ± {pct(statistics.stdev(accs), unit='')}" if len(accs) > 1 else ""
            worst = min(zip(accs, r["seeds"], strict=True))
            lines.append(
                f"| `{r['recipe']}`{mark} | {num(r['params'])} | {r['epochs']} | {r['machine']} "
                f"| {seed_list(r['seeds'])} | {pct(statistics.mean(accs), unit='')}{spread} "
                f"| {pct(worst[0], unit='')} (seed {worst[1]}) | {r['train']:.1f} |"
            )
    sources_text = ", ".join(f"[`{p.parent.name}/{p.name}`]({p})" for p in sources)
    lines += ["", f"From {sources_text}."]
    lines += [f"{'¹²³⁴⁵'[i]} {note}" for i, note in enumerate(footnotes)]
    return "\n".join(lines) + "\n"


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sources", nargs="+", type=Path)
    parser.add_argument("--note", nargs=2, action="append", default=[], metavar=("SOURCE", "TEXT"))
    parser.add_argument("--readme", action="store_true", help="write the table into README.md")
    return parser.parse_args(argv)


def render(args: argparse.Namespace) -> str:
    """The block between the markers: the command that writes it, then the table."""
    command = ["python", "-m", "benchmarks.headline", *map(str, args.sources)]
    for source, note in args.note:
        command += ["--note", source, note]
    table_text = table(args.sources, {Path(p): t for p, t in args.note})
    return f"<!-- {shlex.join(command)} -->\n{table_text}"


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    text = render(args)
    print(text, end="")
    if args.readme:
        write_between(START, END, text, README)


if __name__ == "__main__":
    main()
