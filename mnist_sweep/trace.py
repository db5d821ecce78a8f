"""The architecture table of a user's own ``nn.Module``, traced: built on the ``meta`` device (no
memory for weights) and run on one meta image for the output shapes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from mnist_sweep.architecture import Layer
from mnist_sweep.errors import ConfigError
from mnist_sweep.targets import instantiate


def trace(model_cfg: Mapping, allowed: Sequence[str] = ()) -> list[Layer]:
    """The architecture table of the user's module a config names (``_target_`` under one of the
    ``allowed`` prefixes)."""
    with torch.device("meta"):
        module = instantiate("model", dict(model_cfg), allowed=allowed)
    if not isinstance(module, nn.Module):
        raise ConfigError(f"model._target_={model_cfg['_target_']!r} did not build an nn.Module.")
    shapes: dict[str, tuple[int, ...]] = {}
    order: list[str] = []

    def hook(name: str):
        def record(_: nn.Module, __: object, out: object) -> None:
            if isinstance(out, torch.Tensor) and name not in shapes:
                shapes[name] = tuple(out.shape[1:])
                order.append(name)

        return record

    named = dict(module.named_modules())
    handles = [m.register_forward_hook(hook(n)) for n, m in named.items() if n]
    try:
        module(torch.zeros(1, 1, 28, 28, device="meta"))
    except Exception as exc:  # shapes that do not fit MNIST images
        raise ConfigError(
            f"model._target_={model_cfg['_target_']!r} cannot take a 1x28x28 MNIST image: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    finally:
        for handle in handles:
            handle.remove()
    owning = [n for n, m in named.items() if any(True for _ in m.parameters(recurse=False))]
    rows = []
    for name in order + [n for n in owning if n not in shapes]:
        m = named[name]
        own = sum(p.numel() for p in m.parameters(recurse=False) if p.requires_grad)
        if not own and list(m.children()):
            continue  # a container: its children have their own rows
        shape = shapes.get(name, ())
        rows.append(Layer(f"{name} ({type(m).__name__})", shape, own, _macs(m, shape)))
    rows += [
        Layer(f"(own parameters) {type(module).__name__}", (), own, 0)
        for own in [sum(p.numel() for p in module.parameters(recurse=False) if p.requires_grad)]
        if own
    ]
    return rows


def _macs(module: nn.Module, out_shape: tuple[int, ...]) -> int:
    """Multiply-adds of one image through a user's conv or linear layer (0 for the others)."""
    if isinstance(module, nn.Conv2d) and len(out_shape) == 3:
        k = module.kernel_size[0] * module.kernel_size[1]
        return out_shape[0] * out_shape[1] * out_shape[2] * module.in_channels // module.groups * k
    if isinstance(module, nn.Linear):
        return module.in_features * module.out_features
    return 0
