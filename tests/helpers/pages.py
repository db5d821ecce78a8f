"""Reading generated pages back: their tables, their script's JSON, their external references."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path


class _Tables(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._table: list[list[str]] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._table = self.tables.setdefault(dict(attrs).get("id") or "", [])
        elif tag == "tr" and self._table is not None:
            self._table.append([])
        elif tag in ("td", "th") and self._table is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._table:
            self._table[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def tables(html: str) -> dict[str, list[list[str]]]:
    """Every table of a page by id: rows of cell texts, the header row first."""
    parser = _Tables()
    parser.feed(html)
    return parser.tables


def external_references(html: str) -> list[str]:
    """src/href values that would need a network: anything but data:, #anchors and relative."""
    refs = re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)["']""", html)
    return [
        r for r in refs if re.match(r"[a-z][a-z0-9+.-]*:", r, re.I) and not r.startswith("data:")
    ]


def page_data(page: Path) -> dict:
    """The JSON a page's script draws its table and charts from."""
    html = page.read_text()
    start = html.index('<script type="application/json" id="data">')
    body = html[html.index(">", start) + 1 : html.index("</script>", start)]
    return json.loads(body)
