"""Resolution changes that carry no weights: upsample and downsample (their modules: modules/resample.py,
which the fade-in's resampling of the old path shares)."""
from __future__ import annotations

from ..lazy import deferred
from .registry import (MAX_SIZE, BuildContext, LayerType, Option, Options, Shape, ShapeError, feature_map, no_parameters,
                       register)

FACTOR = Option({"type": "integer", "minimum": 2, "maximum": MAX_SIZE}, "scale factor", 2)
UPSAMPLE_MODES = ("nearest", "bilinear")
DOWNSAMPLE_MODES = ("average", "bilinear")


def _upsample_shape(options: Options, shape: Shape, context: BuildContext) -> Shape:
    channels, height, width = feature_map(shape, "upsample")
    return (channels, height * options["factor"], width * options["factor"])


def _downsample_shape(options: Options, shape: Shape, context: BuildContext) -> Shape:
    channels, height, width = feature_map(shape, "downsample")
    factor = options["factor"]
    if height % factor or width % factor:
        raise ShapeError(f"a {height}×{width} map cannot be shrunk by {factor} in both directions")
    return (channels, height // factor, width // factor)


register(
    LayerType(
        name="upsample",
        family="resample",
        doc="Enlarge a feature map by an integer factor (nearest neighbour, as ProGAN, or bilinear).",
        options={"factor": FACTOR,
                 "mode": Option({"enum": list(UPSAMPLE_MODES)}, "interpolation", "nearest")},
        output_shape=_upsample_shape,
        build=deferred("archgan.layers.modules.resample:build_upsample"),
        parameters=no_parameters,
        example={"type": "upsample"},
        label=lambda o: f"upsample ×{o['factor']}" + (" bilinear" if o["mode"] == "bilinear" else ""),
    )
)

register(
    LayerType(
        name="downsample",
        family="resample",
        doc="Shrink a feature map by an integer factor: average pooling over factor×factor blocks (ProGAN's "
        "box filter), or antialiased bilinear resampling.",
        options={"factor": FACTOR,
                 "mode": Option({"enum": list(DOWNSAMPLE_MODES)}, "filter: average (box) or bilinear (antialiased)",
                                "average")},
        output_shape=_downsample_shape,
        build=deferred("archgan.layers.modules.resample:build_downsample"),
        parameters=no_parameters,
        example={"type": "downsample"},
        label=lambda o: f"downsample ×{o['factor']}" + (" bilinear" if o["mode"] == "bilinear" else ""),
    )
)
