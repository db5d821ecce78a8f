"""How numbers read wherever people see them: pages, printed tables, Markdown results.

A missing value (None, NaN, text, a bool) reads as a dash everywhere, never as ``nan``.
"""

from __future__ import annotations

import math
from numbers import Real
from typing import Any

DASH = "—"
PERCENT = "\u00a0%"  # a no-break space keeps the number and its sign on one line


def missing(value: Any) -> bool:
    """True for anything a number cannot show: None, NaN, undefined, text, a bool."""
    return isinstance(value, bool) or not isinstance(value, Real) or math.isnan(value)


def pct(value: Any, digits: int = 2, unit: str = PERCENT) -> str:
    """A 0..1 fraction as a percentage: 0.99412 → '99.41 %' (``unit=''``: '99.41')."""
    return DASH if missing(value) else f"{100 * value:.{digits}f}{unit}"


def num(value: Any) -> str:
    """A count with thousands separators: 13226 → '13,226'."""
    return DASH if missing(value) else f"{round(value):,}"


def si(value: Any) -> str:
    """A large count with three significant digits and an SI prefix: 1.22e12 → '1.22 T'."""
    if missing(value):
        return DASH
    value = float(f"{value:.3g}")  # 999,999 reads as 1.00 M, not 1000 k
    for exponent, prefix in ((12, "T"), (9, "G"), (6, "M"), (3, "k")):
        if abs(value) >= 10**exponent:
            scaled = value / 10**exponent
            return f"{scaled:.{max(0, 2 - int(math.log10(abs(scaled))))}f}\u00a0{prefix}"
    return f"{round(value):,}"


def secs(value: Any) -> str:
    """A duration for people: '8.4 s', '3 min 05 s', '1 h 02 min'."""
    if missing(value):
        return DASH
    if value < 60:
        return f"{value:.1f}\u00a0s"
    minutes, seconds = divmod(round(value), 60)
    if minutes < 60:
        return f"{minutes}\u00a0min {seconds:02d}\u00a0s"
    return f"{minutes // 60}\u00a0h {minutes % 60:02d}\u00a0min"


def seed_list(seeds: list[int]) -> str:
    """0–9 for a run of consecutive seeds, else the seeds themselves."""
    if len(seeds) > 2 and seeds == list(range(seeds[0], seeds[-1] + 1)):
        return f"{seeds[0]}–{seeds[-1]}"
    return ", ".join(map(str, seeds))


def size(value: Any) -> str:
    """A file size in bytes, in kB or MB (1,000s): 47940 → '47.9 kB'."""
    if missing(value):
        return DASH
    if value >= 1e6:
        return f"{value / 1e6:.2f}\u00a0MB"
    return f"{value / 1e3:.1f}\u00a0kB"
