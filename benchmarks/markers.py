"""README tables written by the benchmarks: the text between two HTML-comment markers."""

from __future__ import annotations

from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def write_between(start: str, end: str, text: str, path: Path = README) -> None:
    """Replace what stands between the ``start`` and ``end`` markers of ``path`` with ``text``."""
    head, rest = path.read_text().split(start, 1)
    tail = rest.split(end, 1)[1]
    path.write_text(f"{head}{start}\n{text}{end}{tail}")
