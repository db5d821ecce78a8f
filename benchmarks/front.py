"""The README's confirmed front: the table that ``python -m mnist_sweep.report front`` wrote
(``front.md``), between the front markers of README.md, with a line naming where it came from.
Given several tables (fronts of run folders that are not all on one machine), the block takes, at
each bound, the row with the highest mean test accuracy among them.

    .venv/bin/python -m benchmarks.front benchmarks/results/<stamp>/front.md [MORE …] [--readme]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmarks.markers import README, REPO, write_between

START, END = "<!-- front:start -->", "<!-- front:end -->"


def render(*tables: Path) -> str:
    """The README block: the table (the best row of the tables at each bound), then links to
    their folders (front.html, front.md)."""
    folders = [t.resolve().parent.relative_to(REPO).as_posix() for t in tables]
    links = ", ".join(f"[`{Path(f).name}`]({f}/front.html) (`{f}/front.md`)" for f in folders)
    if len(tables) == 1:
        return f"{tables[0].read_text().rstrip()}\n\nFrom {links}.\n"
    return f"{merged(tables)}\n\nFrom {links}: at each bound, the row with the highest mean.\n"


def merged(tables: tuple[Path, ...]) -> str:
    """The first table's header and bounds; at each bound, the row of any table with the highest
    mean final test accuracy (a dash row only where every table has one)."""
    lines = [t.read_text().strip().splitlines() for t in tables]
    header, bounds = lines[0][:2], [row.split("|")[1] for row in lines[0][2:]]
    best = []
    for bound in bounds:
        rows = [row for table in lines for row in table[2:] if row.split("|")[1] == bound]
        best.append(max(rows, key=_mean))
    return "\n".join([*header, *best])


def _mean(row: str) -> float:
    """A row's mean test accuracy (``99.39 ± 0.03``); -1 for a dash."""
    cell = row.split("|")[5].strip().split(" ")[0]
    return float(cell) if cell.replace(".", "", 1).isdigit() else -1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "tables", type=Path, nargs="+", help="front.md files in benchmarks/results/"
    )
    parser.add_argument("--readme", action="store_true", help="write it into README.md")
    args = parser.parse_args()
    text = render(*args.tables)
    if args.readme:
        write_between(START, END, text, README)
    print(text)


if __name__ == "__main__":
    main()
