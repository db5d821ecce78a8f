"""mnist_sweep: Hydra-driven sweeps that search for tiny convnets on MNIST.

Importing the package registers three OmegaConf resolvers that let a search map scalar Optuna
parameters onto the model's per-block lists (``conf/hparams_search/arch.yaml``):
``${mnist_sweep.take:[a,b,c],n}`` (the first n items), ``${mnist_sweep.repeat:[a,b],[2,3]}``
(each item repeated: a,a,b,b,b) and ``${mnist_sweep.ends:blocks,x,y}`` (x for every block of the
list ``blocks`` but the last, y for the last).
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


for _name, _fn in (("take", _take), ("repeat", _repeat), ("ends", _ends)):
    OmegaConf.register_resolver(f"mnist_sweep.{_name}", _fn, replace=True)
