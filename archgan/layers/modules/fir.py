"""FIR filtering of feature maps, shared by blur, the `fir` resampling and the modulated convolution's
upsampling: zeros inserted between pixels, zero padding, a fixed 2-D filter per channel, every `down`-th
pixel kept (as StyleGAN2's upfirdn2d does)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

Padding = tuple[int, int, int, int]
"""Zeros added (left, right, top, bottom), after the zeros are inserted."""

STYLEGAN2_TAPS = (1.0, 3.0, 3.0, 1.0)
"""StyleGAN2's resampling filter."""


def fir_kernel(taps: list[float] | tuple[float, ...], gain: float = 1.0) -> torch.Tensor:
    """outer(taps, taps) normalized to sum `gain`: 1 keeps a constant map constant; an upsampling by 2 uses 4,
    as a quarter of its pixels are inserted zeros."""
    tap = torch.tensor(taps, dtype=torch.float32)
    kernel = torch.outer(tap, tap)
    kernel = kernel / kernel.sum()
    return kernel * gain if gain != 1 else kernel


def fir_filter(x: torch.Tensor, kernel: torch.Tensor, padding: Padding, up: int = 1, down: int = 1) -> torch.Tensor:
    """Each channel of x [N, C, H, W] with up-1 zeros inserted after each pixel, zero-padded, convolved with the
    2-D `kernel` (a true convolution, the kernel flipped) and subsampled by `down`."""
    if up > 1:
        n, c, h, w = x.shape
        stuffed = x.new_zeros(n, c, h * up, w * up)
        stuffed[:, :, ::up, ::up] = x
        x = stuffed
    channels = x.shape[1]
    weight = kernel.flip(0, 1).to(device=x.device, dtype=x.dtype).expand(channels, 1, *kernel.shape)
    return F.conv2d(F.pad(x, padding), weight, stride=down, groups=channels)
