"""The search space: Hydra sweep overrides (``range``, ``interval``, ``choice``) read with Hydra's
override parser into Optuna distributions, the fixed values every trial gets, and the overrides
of one trial's job."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override, Transformer
from hydra.errors import HydraException
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from mnist_sweep.errors import ConfigError


def distribution(override: Override) -> BaseDistribution:
    """The Optuna distribution of a sweep override: ``choice(...)`` or ``a,b,c`` → categorical;
    an integer ``range(low, stop[, step])`` → integers ``low..stop-step`` (stop excluded), any other
    range → categorical over its values; ``interval(low, high)`` → uniform (integers when both
    ends are), log-uniform with ``tag(log, ...)``. Raises ValueError for an empty range."""
    value = override.value()
    if override.is_interval_sweep():
        low, high, log_scale = value.start, value.end, "log" in value.tags
        if low > high:
            raise ValueError(f"low {low} is above high {high}")
        if isinstance(low, int) and isinstance(high, int):
            return IntDistribution(low, high, log=log_scale)
        return FloatDistribution(float(low), float(high), log=log_scale)
    values = list(override.sweep_iterator(transformer=Transformer.encode))
    if not values:
        raise ValueError("it holds no value")
    plain = override.is_range_sweep() and not value.shuffle and not value.transformers
    if plain and all(type(v) is int for v in (value.start, value.stop, value.step)):
        return IntDistribution(min(values), max(values), step=abs(value.step))
    if override.is_choice_sweep() or override.is_range_sweep():
        return CategoricalDistribution(values)
    raise ValueError(f"{type(value).__name__} is not a sweep Optuna can sample")


def parse_space(
    overrides: Sequence[str],
) -> tuple[dict[str, BaseDistribution], dict[str, Any], list[str]]:
    """Search distributions, fixed values and deletions of ``key=value`` overrides in Hydra's
    sweep syntax; one override at a time, so an empty or inverted range is named in the error. A
    later override of a key replaces an earlier one."""
    parser = OverridesParser.create()
    space: dict[str, BaseDistribution] = {}
    fixed: dict[str, Any] = {}
    deletions: list[str] = []
    for line in overrides:
        try:
            (override,) = parser.parse_overrides([line])
            if override.is_delete():
                deletions.append(line)
                continue
            name = override.get_key_element()
            space.pop(name, None)
            fixed.pop(name, None)
            if override.is_sweep_override():
                space[name] = distribution(override)
            else:
                fixed[name] = override.get_value_element_as_str()
        except (ValueError, HydraException) as exc:
            raise ConfigError(
                f"the search range {line!r} is empty or inverted ({exc}); give "
                "range(low, stop[, step]) with stop past low (stop is excluded), "
                "interval(low, high) with low <= high, or choice(a, b, ...)."
            ) from exc
    return space, fixed, deletions


def lowest(space: Mapping[str, BaseDistribution]) -> dict[str, Any]:
    """The low end of every range (the first option of a choice): the smallest model a width
    search can propose."""
    return {
        name: d.choices[0] if isinstance(d, CategoricalDistribution) else d.low
        for name, d in space.items()
    }


def as_override(value: Any) -> str:
    """A value as Hydra's override syntax writes it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


@dataclass
class Space:
    """What a search varies (``dists``) and what every trial gets (``fixed``, ``deletions``)."""

    dists: dict[str, BaseDistribution] = field(default_factory=dict)
    fixed: dict[str, Any] = field(default_factory=dict)  # command line and fixed params
    deletions: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, overrides: Sequence[str]) -> Space:
        return cls(*parse_space(overrides))

    def overrides(self, values: Mapping[str, Any]) -> list[str]:
        """The job overrides of a trial with these sampled ``values``."""
        return [
            *(f"{k}={as_override(v)}" for k, v in {**values, **self.fixed}.items()),
            *self.deletions,
        ]


def contains(dist: BaseDistribution, value: object) -> bool:
    """Whether ``value`` is one of a choice's options (of the same type: ``1`` is not ``true``)
    or a number inside a range and on its step."""
    if isinstance(dist, CategoricalDistribution):
        return any(value == c and type(value) is type(c) for c in dist.choices)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    step = getattr(dist, "step", None)
    steps = 0.0 if step is None else (value - dist.low) / step
    return dist.low <= value <= dist.high and abs(steps - round(steps)) < 1e-9


def shown(dist: BaseDistribution) -> str:
    """A distribution as the sweep syntax writes it: ``choice(a, b)`` or ``[low, high]``."""
    if isinstance(dist, CategoricalDistribution):
        options = (str(c).lower() if isinstance(c, bool) else str(c) for c in dist.choices)
        return f"choice({', '.join(options)})"
    return f"[{dist.low}, {dist.high}]"
