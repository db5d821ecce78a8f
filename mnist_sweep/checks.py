"""One helper per kind of value check; each failure names the key, the bad value and what is
allowed, in one sentence. ``config.validate`` drives them; the model and augmentation parsers use
them too, so every message reads the same."""

from __future__ import annotations

from collections.abc import Collection
from numbers import Real
from typing import Any

from mnist_sweep.errors import ConfigError


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def refuse(key: str, value: Any, allowed: str) -> ConfigError:
    return ConfigError(f"{key}={value!r} is not allowed; it must be {allowed}.")


def number(
    key: str,
    value: Any,
    lo: float | None = None,
    hi: float | None = None,
    *,
    integer: bool = False,
    lo_open: bool = False,
    hi_open: bool = False,
    nullable: bool = False,
) -> None:
    """A number (an integer with ``integer``) within [lo, hi]; ``*_open`` excludes that end."""
    if value is None and nullable:
        return
    ok = is_int(value) if integer else is_number(value)
    if ok and lo is not None:
        ok = value > lo if lo_open else value >= lo
    if ok and hi is not None:
        ok = value < hi if hi_open else value <= hi
    if not ok:
        bounds = []
        if lo is not None:
            bounds.append(f"{'>' if lo_open else '>='} {lo:g}")
        if hi is not None:
            bounds.append(f"{'<' if hi_open else '<='} {hi:g}")
        allowed = f"{'an integer' if integer else 'a number'}"
        allowed += f" {' and '.join(bounds)}" if bounds else ""
        raise refuse(key, value, allowed + (" (or null)" if nullable else ""))


def choice(key: str, value: Any, allowed: Collection[Any]) -> None:
    """One of a fixed set of words."""
    if value not in allowed:
        raise refuse(key, value, f"one of {', '.join(map(str, allowed))}")


def flag(key: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise refuse(key, value, "true or false")


def pair(key: str, value: Any, lo: float, hi: float) -> None:
    """Two numbers, each within [lo, hi]."""
    items = list(value) if isinstance(value, list | tuple) else None
    if not (items and len(items) == 2 and all(is_number(v) and lo <= v <= hi for v in items)):
        raise refuse(key, value, f"a pair of numbers in [{lo:g}, {hi:g}]")
