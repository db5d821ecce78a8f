"""An example of your own network for mnist_sweep: any ``nn.Module`` that maps a batch of
1x28x28 images to 10 log-probabilities (or logits). See docs/guide.md, "Your own model"."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class TinyNet(nn.Module):
    """Two conv blocks and a global-average-pool head; ``width`` sets every conv's channels."""

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(width, width, 3, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
        )
        self.head = nn.Linear(width, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.log_softmax(self.head(self.body(x).flatten(1)), dim=1)
