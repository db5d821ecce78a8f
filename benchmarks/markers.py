"""Tables written by the benchmarks into the docs: the text between two HTML-comment markers.

``docs/benchmarks.md`` holds every measured table; ``README.md`` holds the headline table only.
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
BENCHMARKS = REPO / "docs" / "benchmarks.md"


def write_between(start: str, end: str, text: str, path: Path = BENCHMARKS) -> None:
    """Replace what stands between the ``start`` and ``end`` markers of ``path`` with ``text``."""
    head, rest = path.read_text().split(start, 1)
    tail = rest.split(end, 1)[1]
    path.write_text(f"{head}{start}\n{text}{end}{tail}")


def publish(table: str, path: Path, start: str, end: str, docs: bool) -> None:
    """Write a result's Markdown ``table`` to ``path`` and print it; with ``docs``, also put it
    between the ``start`` and ``end`` markers of docs/benchmarks.md."""
    path.write_text(table)
    if docs:
        write_between(start, end, table)
    print(table)
