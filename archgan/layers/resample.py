"""Resolution changes that carry no weights: upsample and downsample."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .registry import BuildContext, LayerType, Option, Options, Shape, ShapeError, feature_map, register

FACTOR = Option({"type": "integer", "minimum": 2}, "scale factor", 2)


class Upsample(nn.Module):
    def __init__(self, factor: int, mode: str):
        super().__init__()
        self.factor, self.mode = factor, mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        align = {"align_corners": False} if self.mode == "bilinear" else {}
        return F.interpolate(x, scale_factor=self.factor, mode=self.mode, **align)

    def extra_repr(self) -> str:
        return f"factor={self.factor}, mode={self.mode}"


class Downsample(nn.Module):
    """Average pooling over factor×factor blocks (ProGAN's box-filter downscale)."""

    def __init__(self, factor: int):
        super().__init__()
        self.factor = factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x, self.factor)

    def extra_repr(self) -> str:
        return f"factor={self.factor}"


def _upsample_shape(options: Options, shape: Shape, context: BuildContext) -> Shape:
    channels, height, width = feature_map(shape, "upsample")
    return (channels, height * options["factor"], width * options["factor"])


def _downsample_shape(options: Options, shape: Shape, context: BuildContext) -> Shape:
    channels, height, width = feature_map(shape, "downsample")
    factor = options["factor"]
    if height % factor or width % factor:
        raise ShapeError(f"a {height}×{width} map cannot be averaged in {factor}×{factor} blocks")
    return (channels, height // factor, width // factor)


register(
    LayerType(
        name="upsample",
        family="resample",
        doc="Enlarge a feature map by an integer factor (nearest neighbour, as ProGAN, or bilinear).",
        options={"factor": FACTOR,
                 "mode": Option({"enum": ["nearest", "bilinear"]}, "interpolation", "nearest")},
        output_shape=_upsample_shape,
        build=lambda o, shape, context: Upsample(o["factor"], o["mode"]),
        example={"type": "upsample"},
        label=lambda o: f"upsample ×{o['factor']}" + (" bilinear" if o["mode"] == "bilinear" else ""),
    )
)

register(
    LayerType(
        name="downsample",
        family="resample",
        doc="Shrink a feature map by average pooling over factor×factor blocks.",
        options={"factor": FACTOR},
        output_shape=_downsample_shape,
        build=lambda o, shape, context: Downsample(o["factor"]),
        example={"type": "downsample"},
        label=lambda o: f"downsample ×{o['factor']}",
    )
)
