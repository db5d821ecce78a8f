"""Per-sample random transforms applied to a whole batch of normalized images at once.

``cfg.aug`` maps transform names to their settings, e.g. ``{rotate: {degrees: 20}}``; several can
be combined. Flips are exact tensor flips; rotation and affine settings are folded into one 2x3
matrix per sample and applied with a single ``grid_sample`` call, on the batch's own device.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch.nn import functional as F

from mnist_sweep.errors import ConfigError

TRANSFORMS = {
    "rotate": {"degrees"},
    "affine": {"degrees", "translate", "scale", "shear"},
    "hflip": {"p"},
    "vflip": {"p"},
}


def _uniform(
    n: int, lo: float, hi: float, g: torch.Generator, device: torch.device
) -> torch.Tensor:
    return torch.rand(n, generator=g, device=device) * (hi - lo) + lo


class Augment:
    """Callable ``(x, generator) -> x'`` built from the ``aug`` config group."""

    def __init__(self, aug_cfg: Mapping | None, background: float) -> None:
        self.cfg = {name: dict(params or {}) for name, params in dict(aug_cfg or {}).items()}
        self.background = background
        for name, params in self.cfg.items():
            if name not in TRANSFORMS:
                raise ConfigError(
                    f"aug.{name} is not a known transform; allowed: {', '.join(TRANSFORMS)}."
                )
            extra = set(params) - TRANSFORMS[name]
            if extra:
                raise ConfigError(
                    f"aug.{name} has unknown setting(s) {sorted(extra)}; "
                    f"allowed: {sorted(TRANSFORMS[name])}."
                )
        for name in ("hflip", "vflip"):
            if name in self.cfg and not 0 <= self.cfg[name].get("p", 0.5) <= 1:
                raise ConfigError(f"aug.{name}.p={self.cfg[name]['p']} must be in [0, 1].")
        self.geometric = any(name in self.cfg for name in ("rotate", "affine"))

    def __bool__(self) -> bool:
        return bool(self.cfg)

    def __call__(self, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        n, dev = x.shape[0], x.device
        for name, dim in (("hflip", -1), ("vflip", -2)):
            if name in self.cfg:
                flip = torch.rand(n, generator=g, device=dev) < self.cfg[name].get("p", 0.5)
                x = torch.where(flip.view(-1, 1, 1, 1), x.flip(dim), x)
        if not self.geometric:
            return x
        theta = self._matrices(n, g, dev).to(x.dtype)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        shifted = F.grid_sample(x - self.background, grid, align_corners=False)
        return shifted + self.background

    def _matrices(self, n: int, g: torch.Generator, dev: torch.device) -> torch.Tensor:
        """One 2x3 sampling matrix per image: rotation · shear · 1/scale, plus translation."""
        angle = torch.zeros(n, device=dev)
        shear = torch.zeros(n, device=dev)
        scale = torch.ones(n, device=dev)
        shift = torch.zeros(n, 2, device=dev)
        if "rotate" in self.cfg:
            d = float(self.cfg["rotate"].get("degrees", 20))
            angle += _uniform(n, -d, d, g, dev)
        if "affine" in self.cfg:
            a = self.cfg["affine"]
            d = float(a.get("degrees", 0))
            angle += _uniform(n, -d, d, g, dev)
            s = float(a.get("shear", 0))
            shear += _uniform(n, -s, s, g, dev)
            lo, hi = (float(v) for v in a.get("scale", (1.0, 1.0)))
            scale = _uniform(n, lo, hi, g, dev)
            tx, ty = (float(v) for v in a.get("translate", (0.0, 0.0)))
            # a shift of a fraction f of the image is 2f in grid_sample's [-1, 1] coordinates
            shift = torch.stack(
                [_uniform(n, -2 * tx, 2 * tx, g, dev), _uniform(n, -2 * ty, 2 * ty, g, dev)], 1
            )
        rad, sh = angle * (math.pi / 180), torch.tan(shear * (math.pi / 180))
        cos, sin = torch.cos(rad) / scale, torch.sin(rad) / scale
        row0 = torch.stack([cos, -sin + cos * sh, shift[:, 0]], 1)
        row1 = torch.stack([sin, cos + sin * sh, shift[:, 1]], 1)
        return torch.stack([row0, row1], 1)
