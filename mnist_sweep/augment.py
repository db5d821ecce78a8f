"""Per-sample random transforms applied to a whole batch of normalized images at once.

``cfg.aug`` maps transform names to their settings, e.g. ``{rotate: {degrees: 20}}``; several can
be combined. Flips are exact tensor flips; rotation and affine settings are folded into one 2x3
matrix per sample and applied with a single ``grid_sample`` call, on the batch's own device.
``intensity`` comes last: per image, pixel values p in [0, 1] become clamp(p·c + b, 0, 1), with c
uniform in [1 - contrast, 1 + contrast] and b in [-brightness, brightness].
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch.nn import functional as F

from mnist_sweep.config import check_aug


def _uniform(
    n: int, lo: float, hi: float, g: torch.Generator, device: torch.device
) -> torch.Tensor:
    return torch.rand(n, generator=g, device=device) * (hi - lo) + lo


class Augment:
    """Callable ``(x, generator) -> x'`` built from the ``aug`` config group. ``background`` and
    ``white`` are the normalized values of pixels 0 and 1 (``white`` defaults to background + 1,
    for images that are not normalized)."""

    def __init__(
        self, aug_cfg: Mapping | None, background: float, white: float | None = None
    ) -> None:
        self.cfg = check_aug(aug_cfg)
        self.background = background
        self.white = background + 1 if white is None else white
        self.geometric = any(name in self.cfg for name in ("rotate", "affine"))

    def __bool__(self) -> bool:
        return bool(self.cfg)

    def __call__(self, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        n, dev = x.shape[0], x.device
        for name, dim in (("hflip", -1), ("vflip", -2)):
            if name in self.cfg:
                flip = torch.rand(n, generator=g, device=dev) < self.cfg[name]["p"]
                x = torch.where(flip.view(-1, 1, 1, 1), x.flip(dim), x)
        if self.geometric:
            theta = self._matrices(n, g, dev).to(x.dtype)
            grid = F.affine_grid(theta, list(x.shape), align_corners=False)
            x = F.grid_sample(x - self.background, grid, align_corners=False) + self.background
        if "intensity" in self.cfg:
            x = self._intensity(x, g)
        return x

    def _intensity(self, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        """Per image: contrast scales the ink about black, brightness adds to every pixel, then
        the values are clamped to the pixel range [0, 1]."""
        n, dev, s = x.shape[0], x.device, self.cfg["intensity"]
        c, b = float(s["contrast"]), float(s["brightness"])
        gain = _uniform(n, 1 - c, 1 + c, g, dev).to(x.dtype).view(-1, 1, 1, 1)
        offset = _uniform(n, -b, b, g, dev).to(x.dtype).view(-1, 1, 1, 1)
        out = (x - self.background) * gain + offset * (self.white - self.background)
        return (out + self.background).clamp(self.background, self.white)

    def _matrices(self, n: int, g: torch.Generator, dev: torch.device) -> torch.Tensor:
        """One 2x3 sampling matrix per image: rotation · shear · 1/scale, plus translation."""
        angle = torch.zeros(n, device=dev)
        shear = torch.zeros(n, device=dev)
        scale = torch.ones(n, device=dev)
        shift = torch.zeros(n, 2, device=dev)
        if "rotate" in self.cfg:
            d = float(self.cfg["rotate"]["degrees"])
            angle += _uniform(n, -d, d, g, dev)
        if "affine" in self.cfg:
            a = self.cfg["affine"]
            d = float(a["degrees"])
            angle += _uniform(n, -d, d, g, dev)
            s = float(a["shear"])
            shear += _uniform(n, -s, s, g, dev)
            lo, hi = (float(v) for v in a["scale"])
            scale = _uniform(n, lo, hi, g, dev)
            tx, ty = (float(v) for v in a["translate"])
            # a shift of a fraction f of the image is 2f in grid_sample's [-1, 1] coordinates
            shift = torch.stack(
                [_uniform(n, -2 * tx, 2 * tx, g, dev), _uniform(n, -2 * ty, 2 * ty, g, dev)], 1
            )
        rad, sh = angle * (math.pi / 180), torch.tan(shear * (math.pi / 180))
        cos, sin = torch.cos(rad) / scale, torch.sin(rad) / scale
        row0 = torch.stack([cos, -sin + cos * sh, shift[:, 0]], 1)
        row1 = torch.stack([sin, cos + sin * sh, shift[:, 1]], 1)
        return torch.stack([row0, row1], 1)
