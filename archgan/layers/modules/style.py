"""Modules that read the generator's style: the base class that picks a layer's own style, and StyleGAN's
style modulation."""
from __future__ import annotations

import torch
from torch import nn

from ..registry import BuildContext, Options, Shape
from .blocks import Inputs, TakesInputs
from .conv import build_dense


class ReadsStyle(TakesInputs):
    """A module that reads one of the generator's styles, inputs["style"] [N, L, w]: the `style_index`-th,
    which the Generator sets, counting the style layers in the order the network runs them."""

    style_index: int = 0

    def style(self, inputs: Inputs) -> torch.Tensor:
        return inputs["style"][:, self.style_index]


class StyleModulation(ReadsStyle):
    """x · (1 + s) + b, with [s, b] = dense(w): C scales, then C shifts (StyleGAN's style_mod)."""

    def __init__(self, dense: nn.Module):
        super().__init__()
        self.dense = dense

    def forward(self, x: torch.Tensor, inputs: Inputs) -> torch.Tensor:
        style = self.dense(self.style(inputs)).to(x.dtype).view(x.shape[0], 2, x.shape[1], *([1] * (x.ndim - 2)))
        return x * (style[:, 0] + 1) + style[:, 1]

    def extra_repr(self) -> str:
        return f"style_index={self.style_index}"


def build_style_modulation(options: Options, shape: Shape, context: BuildContext) -> nn.Module:
    dense_options = {**options, "channels": 2 * shape[0], "reshape": None, "activation": {"type": "linear"}}
    return StyleModulation(build_dense(dense_options, (context.style_size,), context))
