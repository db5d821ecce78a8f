"""The README's confirmed front: the table that ``python -m mnist_sweep.report front`` wrote
(``front.md``), between the front markers of README.md, with a line naming where it came from.

    .venv/bin/python -m benchmarks.front benchmarks/results/<stamp>-front/front.md [--readme]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmarks.markers import README, REPO, write_between

START, END = "<!-- front:start -->", "<!-- front:end -->"


def render(table: Path) -> str:
    """The README block: the table, then a link to its folder (front.html, front.md)."""
    folder = table.resolve().parent.relative_to(REPO).as_posix()
    return (
        f"{table.read_text().rstrip()}\n\nFrom [`{Path(folder).name}`]({folder}/front.html) "
        f"(`{folder}/front.md`).\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("table", type=Path, help="a front.md inside benchmarks/results/")
    parser.add_argument("--readme", action="store_true", help="write it into README.md")
    args = parser.parse_args()
    text = render(args.table)
    if args.readme:
        write_between(START, END, text, README)
    print(text)


if __name__ == "__main__":
    main()
