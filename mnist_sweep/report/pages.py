"""What every page shares: the Jinja2 environment it is drawn with, and the JSON its script
reads. The pages' file names are in ``mnist_sweep.artifacts``; numbers on pages read through
``mnist_sweep.formats``."""

from __future__ import annotations

import json
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from mnist_sweep import artifacts
from mnist_sweep.formats import DASH, missing, num, pct, secs, si, size
from mnist_sweep.record import LEVELS
from mnist_sweep.report import charts


def sortkey(value: Any) -> str:
    """The ``data-sort`` value of a table cell: the raw number, empty when missing."""
    return "" if missing(value) else repr(float(value))


_env = Environment(
    loader=PackageLoader("mnist_sweep.report", "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters |= {"pct": pct, "num": num, "secs": secs, "si": si, "size": size, "sortkey": sortkey}
_env.tests["missing"] = missing
_env.globals |= {
    "LEVELS": LEVELS,
    "LEVEL_RANK": {level: rank for rank, level in enumerate(LEVELS)},
    "COLORS": charts.COLORS,
    "DASH": DASH,
}


def render(template: str, context: dict[str, Any]) -> str:
    """The page ``template`` (in ``report/templates``) filled with ``context``."""
    return _env.get_template(template).render(context)


def json_script(data: dict[str, Any]) -> str:
    """JSON safe inside a <script> element: no ``<`` that could close it or open a comment."""
    compact = {"separators": (",", ":"), "allow_nan": False, "default": str}
    try:
        text = json.dumps(data, **compact)
    except ValueError:  # a NaN or infinity somewhere: null instead (one more walk of the data)
        text = json.dumps(artifacts.finite(data), **compact)
    return text.replace("<", "\\u003c")
