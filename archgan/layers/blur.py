"""Blur: a fixed low-pass FIR filter (StyleGAN's [1, 2, 1], StyleGAN2's [1, 3, 3, 1]), used beside resampling
against aliasing; it keeps the size of a map unless given a `padding`; its module: modules/blur.py."""
from __future__ import annotations

from ..lazy import deferred
from .registry import (
    MAX_SIZE,
    NON_NEGATIVE_SIZE,
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


def blur_padding(taps: list[float], padding: list[int] | None) -> tuple[int, int]:
    """Zeros (before, after) on each axis: `padding`, or by default k//2 and (k-1)//2, which keep the size
    (as upfirdn2d's filter2d)."""
    if padding is not None:
        return padding[0], padding[1]
    return len(taps) // 2, (len(taps) - 1) // 2


def _blur_shape(options: Options, shape: Shape, context: BuildContext) -> Shape:
    taps = options["taps"]
    if sum(taps) <= 0:
        raise ShapeError(f"the taps {taps} sum to {sum(taps)}; a blur needs taps with a "
                         "positive sum (it divides by it), such as [1, 2, 1]")
    channels, height, width = feature_map(shape, "blur")
    before, after = blur_padding(taps, options["padding"])
    out = [size + before + after - len(taps) + 1 for size in (height, width)]
    if min(out) < 1:
        raise ShapeError(f"{len(taps)} taps with padding [{before}, {after}] do not fit a {height}×{width} input; pad "
                         f"at least {len(taps) - 1} in all, e.g. padding [{len(taps) // 2}, {(len(taps) - 1) // 2}]")
    return (channels, out[0], out[1])


register(
    LayerType(
        name="blur",
        family="filter",
        doc="Convolve each channel with the outer product of `taps` with itself, normalized to sum 1, zero-padded "
        "so the size stays (as StyleGAN's upfirdn2d: taps//2 before, (taps-1)//2 after) or as `padding` says; "
        "no weights. StyleGAN2's downsampling convolution is a blur [1, 3, 3, 1] with padding [2, 2] and then a "
        "3×3 conv with stride 2 and padding 0; its resnet skip a blur with padding [1, 1] and a 1×1 conv with "
        "stride 2.",
        options={"taps": Option({"type": "array", "items": {"type": "number", "minimum": 0}, "minItems": 1,
                                 "maxItems": MAX_SIZE}, "the 1-D filter taps", [1, 2, 1]),
                 "padding": Option({"anyOf": [{"type": "array", "items": NON_NEGATIVE_SIZE, "minItems": 2,
                                               "maxItems": 2}, {"type": "null"}]},
                                   "zeros [before, after] on each side of both axes; null: as many as keep the size",
                                   None)},
        output_shape=_blur_shape,
        build=deferred("archgan.layers.modules.blur:build"),
        parameters=no_parameters,
        example={"type": "blur", "taps": [1, 3, 3, 1], "padding": [2, 2]},
        label=lambda o: f"blur {o['taps']}" + (f" pad {o['padding']}" if o["padding"] is not None else ""),
    )
)
