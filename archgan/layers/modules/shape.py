"""Shape modules: global pooling, and the reshape that flatten and reshape share."""
from __future__ import annotations

import torch
from torch import nn

from ..registry import BuildContext, Options, Shape, layer_type


class GlobalPool(nn.Module):
    """[N, C, H, W] -> [N, C]: the sum or mean of each channel over its pixels."""

    def __init__(self, mode: str):
        super().__init__()
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.sum(dim=(2, 3)) if self.mode == "sum" else x.mean(dim=(2, 3))

    def extra_repr(self) -> str:
        return f"mode={self.mode}"


class Reshape(nn.Module):
    """Each sample to `shape` (the registry's shape rule has checked that the values add up)."""

    def __init__(self, shape: Shape):
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], *self.shape)

    def extra_repr(self) -> str:
        return f"shape={self.shape}"


def build_global_pool(options: Options, shape: Shape, context: BuildContext) -> nn.Module:
    return GlobalPool(options["mode"])


def build_reshape(options: Options, shape: Shape, context: BuildContext) -> nn.Module:
    """flatten and reshape: the output shape is the registry's."""
    return Reshape(layer_type(options["type"]).output_shape(options, shape, context))
