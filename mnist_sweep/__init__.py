"""mnist_sweep: Hydra-driven sweeps that search for tiny convnets on MNIST.

Importing the package registers OmegaConf resolvers that let a search map scalar Optuna
parameters onto the model's per-block and per-conv lists (``conf/hparams_search/arch.yaml``,
``records.yaml``): ``${mnist_sweep.take:[a,b,c],n}`` (the first n items),
``${mnist_sweep.repeat:[a,b],[2,3]}`` (each item repeated: a,a,b,b,b),
``${mnist_sweep.ends:blocks,x,y}`` (x for every block of the list ``blocks`` but the last, y for
the last), ``${mnist_sweep.next:[a,b,c]}`` (each block's successor, the last its own: b,c,c),
``${mnist_sweep.add:[2,3],flag}`` (one more conv per block when flag is true),
``${mnist_sweep.per_conv:[a,b],[2,3],[x,y],flag}`` (a,a,b,b,b, and with flag one end item per
block: a,a,x,b,b,b,y) and ``${mnist_sweep.around:c,h}`` (the pair [c - h, c + h]).
"""

from collections.abc import Sequence
from typing import Any

from omegaconf import OmegaConf


def _take(items: Sequence[Any], n: int) -> list[Any]:
    return list(items)[:n]


def _repeat(items: Sequence[Any], counts: Sequence[int]) -> list[Any]:
    return [item for item, count in zip(items, counts, strict=False) for _ in range(count)]


def _ends(blocks: Sequence[Any], first: Any, last: Any) -> list[Any]:
    return [first] * (len(blocks) - 1) + [last]


def _next(items: Sequence[Any]) -> list[Any]:
    return [*items[1:], items[-1]]


def _add(counts: Sequence[int], flag: bool) -> list[int]:
    return [count + int(flag) for count in counts]


def _per_conv(items: Sequence[Any], counts: Sequence[int], end: Sequence[Any], flag: bool) -> list:
    blocks = zip(items, counts, end, strict=False)
    return [v for item, count, last in blocks for v in [item] * count + [last] * int(flag)]


def _around(centre: float, half: float) -> list[float]:
    return [centre - half, centre + half]


for _name, _fn in (
    ("take", _take),
    ("repeat", _repeat),
    ("ends", _ends),
    ("next", _next),
    ("add", _add),
    ("per_conv", _per_conv),
    ("around", _around),
):
    OmegaConf.register_resolver(f"mnist_sweep.{_name}", _fn, replace=True)
