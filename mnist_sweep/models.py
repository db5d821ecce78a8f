"""The torch modules of the model family (``architecture`` holds its grammar and counts), the
architecture table of any model a config names, and a run's checkpoint: saved and rebuilt."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from mnist_sweep.architecture import Layer, is_native, layers, parse
from mnist_sweep.artifacts import write_atomic
from mnist_sweep.targets import instantiate
from mnist_sweep.trace import trace


def _modules(layer: Layer) -> list[nn.Module]:
    """The torch modules of one table row (a BatchNorm row is BatchNorm and ReLU, in the order
    ``bn_after_relu`` sets)."""
    kind, *args = layer.op
    if kind == "conv":
        c, w, k, pad, bias = args
        return [nn.Conv2d(c, w, k, padding=pad, bias=bias)]
    if kind == "separable":
        c, w, k, pad, bias = args
        return [
            nn.Conv2d(c, c, k, padding=pad, groups=c, bias=False),
            nn.Conv2d(c, w, 1, bias=bias),
        ]
    if kind == "batchnorm":
        w, after_relu = args
        pair = [nn.BatchNorm2d(w), nn.ReLU(inplace=True)]
        return pair[::-1] if after_relu else pair
    if kind == "maxpool":
        return [nn.MaxPool2d(2)]
    if kind == "dropout":
        return [nn.Dropout2d(*args)]
    if kind in ("gap", "head_gap"):
        return [nn.AdaptiveAvgPool2d(1)]
    if kind == "head_conv":
        return [nn.Conv2d(*args, 1)]
    return [nn.Linear(*args)]


def architecture(model_cfg: Mapping, allowed: Sequence[str] = ()) -> list[Layer]:
    """The architecture table of the model a config names, without training it: from the block
    grammar for ConvNet (no torch needed), else from the user's module itself, traced on the
    ``meta`` device (``trace.trace``)."""
    if is_native(model_cfg):
        return layers(parse(model_cfg))
    return trace(model_cfg, allowed)


def count_params(model_cfg: Mapping, allowed: Sequence[str] = ()) -> int:
    """Trainable parameters of the model a config describes, without training it."""
    return sum(layer.params for layer in architecture(model_cfg, allowed))


def macs(model_cfg: Mapping, allowed: Sequence[str] = ()) -> int:
    """Multiply-adds of one forward pass of one image (convs and linear layers)."""
    return sum(layer.macs for layer in architecture(model_cfg, allowed))


class ConvNet(nn.Module):
    """The parametric family of ``architecture``; returns log-probabilities.

    Built row by row from the architecture table: ``features`` from every row but the last,
    ``classifier`` from the last (the linear head)."""

    def __init__(self, **model_cfg: object) -> None:
        super().__init__()
        table = layers(parse(model_cfg))  # raises before any module is built if shapes fail
        head = [r for r in table if r.op[0] in ("linear", "head_conv", "head_gap")]
        body = [m for row in table if row not in head for m in _modules(row)]
        self.features = nn.Sequential(*body)
        parts = [m for row in head for m in _modules(row)]
        self.classifier = parts[0] if len(parts) == 1 else nn.Sequential(*parts)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.features(x)
        if isinstance(self.classifier, nn.Linear):
            return F.log_softmax(self.classifier(out.flatten(1)), dim=1)
        return F.log_softmax(self.classifier(out).flatten(1), dim=1)


def build(model_cfg: Mapping, allowed: Sequence[str] = ()) -> nn.Module:
    """The torch module a model config names: ConvNet, or a user's own under ``allowed``."""
    return instantiate("model", dict(model_cfg), allowed=allowed)


def save(path: Path, model: nn.Module, model_cfg: Mapping[str, Any]) -> None:
    """State dict plus the model config that rebuilds it (``load``), written atomically."""
    buf = io.BytesIO()
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    torch.save({"model_cfg": dict(model_cfg), "state_dict": state}, buf)
    write_atomic(path, buf.getvalue())


def load(
    path: str | Path, map_location: str | torch.device = "cpu", allowed: Sequence[str] = ()
) -> nn.Module:
    """Rebuild a model from a run's ``model.pt`` (loaded with ``weights_only=True``); a user's
    own module needs its prefix in ``allowed``, as at training time."""
    ckpt = torch.load(path, map_location=map_location, weights_only=True)
    cfg = ckpt["model_cfg"]
    model = ConvNet(**cfg) if is_native(cfg) else build(cfg, allowed)
    model.load_state_dict(ckpt["state_dict"])
    return model.eval()


def trainable_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
