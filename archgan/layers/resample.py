"""Resolution changes that carry no weights: upsample and downsample (their modules: modules/resample.py,
which the fade-in's resampling of the old path shares)."""
from __future__ import annotations

from ..lazy import deferred
from .registry import (MAX_SIZE, BuildContext, LayerType, Option, Options, Shape, ShapeError, feature_map, no_parameters,
                       register)

FACTOR = Option({"type": "integer", "minimum": 2, "maximum": MAX_SIZE}, "scale factor", 2)
UPSAMPLE_MODES = ("nearest", "bilinear", "fir")
DOWNSAMPLE_MODES = ("average", "bilinear", "fir")


def _check_fir_factor(options: Options, layer: str) -> None:
    """StyleGAN2's filter and padding are those of a factor of 2."""
    if options["mode"] == "fir" and options["factor"] != 2:
        raise ShapeError(f"{layer} mode fir resamples by a factor of 2 only, not {options['factor']}; "
                         f"use factor 2 (repeat the layer to go further), or another mode")


def _upsample_shape(options: Options, shape: Shape, context: BuildContext) -> Shape:
    channels, height, width = feature_map(shape, "upsample")
    _check_fir_factor(options, "upsample")
    return (channels, height * options["factor"], width * options["factor"])


def _downsample_shape(options: Options, shape: Shape, context: BuildContext) -> Shape:
    channels, height, width = feature_map(shape, "downsample")
    _check_fir_factor(options, "downsample")
    factor = options["factor"]
    if height % factor or width % factor:
        raise ShapeError(f"a {height}×{width} map cannot be shrunk by {factor} in both directions")
    return (channels, height // factor, width // factor)


def _label(options: Options) -> str:
    """'upsample ×2', with the mode when it is not the default: 'downsample ×2 fir'."""
    mode = options["mode"]
    return f"{options['type']} ×{options['factor']}" + ("" if mode in ("nearest", "average") else f" {mode}")


register(
    LayerType(
        name="upsample",
        family="resample",
        doc="Enlarge a feature map by an integer factor: nearest neighbour (ProGAN), bilinear, or fir "
        "(StyleGAN2's upsample2d: a zero after each pixel, then the [1, 3, 3, 1] filter normalized to sum 4; "
        "factor 2 only).",
        options={"factor": FACTOR,
                 "mode": Option({"enum": list(UPSAMPLE_MODES)}, "interpolation: nearest, bilinear or fir", "nearest")},
        output_shape=_upsample_shape,
        build=deferred("archgan.layers.modules.resample:build_upsample"),
        parameters=no_parameters,
        example={"type": "upsample"},
        label=_label,
    )
)

register(
    LayerType(
        name="downsample",
        family="resample",
        doc="Shrink a feature map by an integer factor: average pooling over factor×factor blocks (ProGAN's "
        "box filter), antialiased bilinear resampling, or fir (StyleGAN2's downsample2d: the [1, 3, 3, 1] "
        "filter normalized to sum 1, then every second pixel; factor 2 only).",
        options={"factor": FACTOR,
                 "mode": Option({"enum": list(DOWNSAMPLE_MODES)},
                                "filter: average (box), bilinear (antialiased) or fir", "average")},
        output_shape=_downsample_shape,
        build=deferred("archgan.layers.modules.resample:build_downsample"),
        parameters=no_parameters,
        example={"type": "downsample"},
        label=_label,
    )
)
