"""Resampling: the upsample and downsample modules, and the functions they share with the fade-in
(networks/fade.py), so a layer and the old path of a fade resample the same way."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..registry import BuildContext, Options, Shape
from .fir import STYLEGAN2_TAPS, fir_filter, fir_kernel


def _fir_factor(factor: int) -> None:
    if factor != 2:
        raise ValueError(f"mode fir resamples by a factor of 2 only, not {factor}")


def upsample(x: torch.Tensor, factor: int, mode: str) -> torch.Tensor:
    """×factor: 'nearest' repeats pixels (ProGAN); 'bilinear' interpolates (align_corners False); 'fir' inserts
    a zero after each pixel and filters with [1, 3, 3, 1] summing to 4, padded 2 before and 1 after
    (StyleGAN2's upsample2d), so a constant map stays constant away from the borders."""
    if mode == "fir":
        _fir_factor(factor)
        return fir_filter(x, fir_kernel(STYLEGAN2_TAPS, gain=4.0), (2, 1, 2, 1), up=2)
    align = {"align_corners": False} if mode == "bilinear" else {}
    return F.interpolate(x, scale_factor=factor, mode=mode, **align)


def downsample(x: torch.Tensor, factor: int, mode: str) -> torch.Tensor:
    """÷factor: 'average' pools factor×factor blocks (ProGAN's box filter); 'bilinear' is antialiased,
    as an image library's bilinear resize; 'fir' filters with [1, 3, 3, 1] summing to 1, padded 1 on each
    side, and keeps every second pixel (StyleGAN2's downsample2d)."""
    if mode == "fir":
        _fir_factor(factor)
        return fir_filter(x, fir_kernel(STYLEGAN2_TAPS), (1, 1, 1, 1), down=2)
    if mode == "average":
        return F.avg_pool2d(x, factor)
    size = (x.shape[-2] // factor, x.shape[-1] // factor)
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)


class Upsample(nn.Module):
    def __init__(self, factor: int, mode: str):
        super().__init__()
        self.factor, self.mode = factor, mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upsample(x, self.factor, self.mode)

    def extra_repr(self) -> str:
        return f"factor={self.factor}, mode={self.mode}"


class Downsample(nn.Module):
    def __init__(self, factor: int, mode: str):
        super().__init__()
        self.factor, self.mode = factor, mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return downsample(x, self.factor, self.mode)

    def extra_repr(self) -> str:
        return f"factor={self.factor}, mode={self.mode}"


def build_upsample(options: Options, shape: Shape, context: BuildContext) -> nn.Module:
    return Upsample(options["factor"], options["mode"])


def build_downsample(options: Options, shape: Shape, context: BuildContext) -> nn.Module:
    return Downsample(options["factor"], options["mode"])
