"""The learned constant input."""
from __future__ import annotations

import torch
from torch import nn

from ..registry import BuildContext, Options, Shape


class Constant(nn.Module):
    """x [N, ...] -> the learned map, repeated N times (a view: every sample's gradient flows to it)."""

    def __init__(self, channels: int, size: int, init: str):
        super().__init__()
        self.value = nn.Parameter(torch.ones(channels, size, size) if init == "ones" else torch.randn(channels, size, size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.value.unsqueeze(0).expand(x.shape[0], *self.value.shape)


def build(options: Options, shape: Shape, context: BuildContext) -> nn.Module:
    return Constant(options["channels"], options["size"], options["init"])
