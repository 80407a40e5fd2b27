"""Blur: a fixed low-pass FIR filter that keeps the size of a map (StyleGAN's [1, 2, 1], StyleGAN2's
[1, 3, 3, 1]), used beside resampling against aliasing; its module: modules/blur.py."""
from __future__ import annotations

from ..lazy import deferred
from .registry import (
    MAX_SIZE,
    BuildContext,
    LayerType,
    Option,
    Options,
    Shape,
    ShapeError,
    feature_map,
    no_parameters,
    register,
)


def _blur_shape(options: Options, shape: Shape, context: BuildContext) -> Shape:
    if sum(options["taps"]) <= 0:
        raise ShapeError(f"the taps {options['taps']} sum to {sum(options['taps'])}; a blur needs taps with a "
                         "positive sum (it divides by it), such as [1, 2, 1]")
    return feature_map(shape, "blur")


register(
    LayerType(
        name="blur",
        family="filter",
        doc="Convolve each channel with the outer product of `taps` with itself, normalized to sum 1, padded so "
        "the size stays (as StyleGAN's upfirdn2d: taps//2 before, (taps-1)//2 after, zeros); no weights.",
        options={"taps": Option({"type": "array", "items": {"type": "number", "minimum": 0}, "minItems": 1,
                                 "maxItems": MAX_SIZE}, "the 1-D filter taps", [1, 2, 1])},
        output_shape=_blur_shape,
        build=deferred("archgan.layers.modules.blur:build"),
        parameters=no_parameters,
        example={"type": "blur", "taps": [1, 3, 3, 1]},
        label=lambda o: f"blur {o['taps']}",
    )
)
