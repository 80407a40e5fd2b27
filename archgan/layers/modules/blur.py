"""The blur module: a depthwise convolution with a fixed, normalized 2-D FIR filter (modules/fir.py)."""
from __future__ import annotations

import torch
from torch import nn

from ..blur import blur_padding
from ..registry import BuildContext, Options, Shape
from .fir import fir_filter, fir_kernel


class Blur(nn.Module):
    """Each channel convolved (a true convolution: the filter flipped, as upfirdn2d) with outer(taps, taps) / sum²,
    zero-padded as `blur_padding` says. The filter is a buffer kept out of the state dict: it is the spec's,
    not a weight."""

    def __init__(self, taps: list[float], padding: list[int] | None):
        super().__init__()
        self.taps = list(taps)
        self.register_buffer("kernel", fir_kernel(taps), persistent=False)
        before, after = blur_padding(taps, padding)
        self.padding = (before, after, before, after)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fir_filter(x, self.kernel, self.padding)

    def extra_repr(self) -> str:
        return f"taps={self.taps}, padding={self.padding}"


def build(options: Options, shape: Shape, context: BuildContext) -> nn.Module:
    return Blur(options["taps"], options["padding"])
