"""The blur module: a depthwise convolution with a fixed, normalized 2-D FIR filter."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..registry import BuildContext, Options, Shape


class Blur(nn.Module):
    """Each channel convolved (a true convolution: the filter flipped, as upfirdn2d) with outer(taps, taps) / sum²,
    zero-padded by k//2 before and (k-1)//2 after so the size stays. The filter is a buffer kept out of the
    state dict: it is the spec's, not a weight."""

    def __init__(self, channels: int, taps: list[float]):
        super().__init__()
        self.taps = list(taps)
        kernel = torch.tensor(taps, dtype=torch.float32)
        kernel = torch.outer(kernel, kernel)
        kernel = (kernel / kernel.sum()).flip(0, 1)
        self.register_buffer("kernel", kernel.expand(channels, 1, *kernel.shape).contiguous(), persistent=False)
        size = len(taps)
        self.padding = (size // 2, (size - 1) // 2) * 2  # (left, right, top, bottom)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kernel = self.kernel.to(x.dtype)
        return F.conv2d(F.pad(x, self.padding), kernel, groups=x.shape[1])

    def extra_repr(self) -> str:
        return f"taps={self.taps}, padding={self.padding}"


def build(options: Options, shape: Shape, context: BuildContext) -> nn.Module:
    return Blur(shape[0], options["taps"])
