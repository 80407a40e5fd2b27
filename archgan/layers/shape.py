"""Layers that change a sample's shape, not its values: global pooling (SNGAN's discriminator sums its last
map over space), flatten and reshape (their modules: modules/shape.py)."""
from __future__ import annotations

import math
from typing import Callable

from ..lazy import deferred
from .registry import (
    WIDTH,
    BuildContext,
    LayerType,
    Option,
    Options,
    Shape,
    ShapeError,
    feature_map,
    no_parameters,
    register,
    widen_channels,
)


def _pool_shape(options: Options, shape: Shape, context: BuildContext) -> Shape:
    return (feature_map(shape, "global_pool")[0],)


def _reshape_shape(options: Options, shape: Shape, context: BuildContext) -> Shape:
    target = tuple(options["shape"])
    if math.prod(target) != math.prod(shape):
        raise ShapeError(f"cannot reshape {'×'.join(map(str, shape))} ({math.prod(shape)} values) to "
                         f"{'×'.join(map(str, target))} ({math.prod(target)} values); give a shape with as many values")
    return target


def _widen_shape(shape: list[int], scale: Callable[[int], int]) -> list[int]:
    """The network's width scale changes the channels of a map, not its size, nor a vector's length."""
    return [widen_channels(shape[0], scale), *shape[1:]] if len(shape) == 3 else shape


register(
    LayerType(
        name="global_pool",
        family="shape",
        doc="Pool each channel of a map over all its pixels into one feature: a sum (SNGAN's discriminator) "
        "or a mean (global average pooling).",
        options={"mode": Option({"enum": ["sum", "mean"]}, "sum or mean over the pixels", "sum")},
        output_shape=_pool_shape,
        build=deferred("archgan.layers.modules.shape:build_global_pool"),
        parameters=no_parameters,
        example={"type": "global_pool", "mode": "sum"},
        label=lambda o: f"global {o['mode']}",
    )
)

register(
    LayerType(
        name="flatten",
        family="shape",
        doc="A map (channels×height×width) as one vector of all its values, channels first.",
        options={},
        output_shape=lambda options, shape, context: (math.prod(shape),),
        build=deferred("archgan.layers.modules.shape:build_reshape"),
        parameters=no_parameters,
        example={"type": "flatten"},
    )
)

register(
    LayerType(
        name="reshape",
        family="shape",
        doc="The same values in another shape: `[features]` for a vector, `[channels, height, width]` for a map "
        "(as torch's reshape, row-major); the number of values must not change.",
        options={"shape": Option({"type": "array", "items": WIDTH, "minItems": 1, "maxItems": 3},
                                 "[features] or [channels, height, width]", widen=_widen_shape)},
        output_shape=_reshape_shape,
        build=deferred("archgan.layers.modules.shape:build_reshape"),
        parameters=no_parameters,
        example={"type": "reshape", "shape": [64, 4, 4]},
        label=lambda o: f"reshape → {'×'.join(map(str, o['shape']))}",
    )
)
