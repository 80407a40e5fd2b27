"""Blocks: entries that hold layer lists, so a stage is a small graph rather than a chain (their modules:
modules/blocks.py). Every path of a block reads the block's input; the block merges what they give.

A residual block adds a main path and a shortcut (an empty shortcut is the identity), times a gain:
1/√2 keeps the variance of the sum of two unit-variance paths (StyleGAN2's resnet discriminator), 1 is
SNGAN's plain sum. `branches` merges two or more paths by sum (times a gain) or by concatenating channels.
Nesting blocks, rather than naming outputs and referring to them (Ultralytics' `from:`), keeps each path's
input implicit, so a stage still reads top to bottom, parameter names follow the structure
(stages.16x16.res0.main.1.weight), and a path cannot refer to a layer of another stage, which growing
would break.
"""
from __future__ import annotations

from ..lazy import deferred
from .registry import (LAYER_LIST, LAYER_LISTS, BuildContext, LayerType, Option, Options, Shape, ShapeError,
                       format_shape, no_parameters, register)

GAIN = Option({"type": "number", "exclusiveMinimum": 0, "maximum": 1000},
              "the merged sum is multiplied by this (1/√2 = 0.7071067811865476 keeps unit variance)", 1.0)


def _residual_shape(options: Options, shape: Shape, context: BuildContext) -> Shape:
    main, shortcut = options["main"], options["shortcut"]
    if main != shortcut:
        raise ShapeError(
            f"the main path gives {format_shape(main)} but the shortcut gives {format_shape(shortcut)}; they are "
            "added, so make the shortcut change the input as the main path does (e.g. [{type: downsample}, "
            f"{{type: conv, kernel: 1, channels: {main[0]}}}])" if shortcut == shape else
            f"the main path gives {format_shape(main)} but the shortcut gives {format_shape(shortcut)}; they are "
            "added, so both must give the same shape")
    return main


def _branches_shape(options: Options, shape: Shape, context: BuildContext) -> Shape:
    outputs: list[Shape] = options["branches"]
    listed = "; ".join(f"branch {index} gives {format_shape(out)}" for index, out in enumerate(outputs))
    if options["merge"] == "sum":
        if len(set(outputs)) > 1:
            raise ShapeError(f"{listed}: a sum needs every branch to give the same shape")
        return outputs[0]
    if len({out[1:] for out in outputs}) > 1 or len({len(out) for out in outputs}) > 1:
        raise ShapeError(f"{listed}: concat joins channels, so every branch must give the same size")
    return (sum(out[0] for out in outputs), *outputs[0][1:])


def _gain_text(gain: float) -> str:
    return "" if gain == 1 else " ×1/√2" if abs(gain - 0.5**0.5) < 1e-12 else f" ×{gain:g}"


register(
    LayerType(
        name="residual",
        family="block",
        doc="A residual block: (main(x) + shortcut(x)) · gain, where both paths read the block's input x and an "
        "empty shortcut is x itself (SNGAN/BigGAN resnet blocks: gain 1; StyleGAN2's resnet discriminator: 1/√2).",
        options={
            "main": Option(LAYER_LIST, "the main path: a layer list"),
            "shortcut": Option(LAYER_LIST, "the shortcut: a layer list, empty for the identity", []),
            "gain": GAIN,
        },
        output_shape=_residual_shape,
        build=deferred("archgan.layers.modules.blocks:build_residual"),
        parameters=no_parameters,
        example={"type": "residual", "gain": 0.7071067811865476,
                 "main": [{"type": "conv", "channels": 64}, {"type": "conv", "channels": 128}, {"type": "downsample"}],
                 "shortcut": [{"type": "downsample"}, {"type": "conv", "channels": 128, "kernel": 1, "bias": False}]},
        label=lambda o: "residual" + _gain_text(o["gain"]),
    )
)

register(
    LayerType(
        name="branches",
        family="block",
        doc="Two or more paths that each read the block's input, merged: by sum (times `gain`; every path gives "
        "the same shape) or by concatenating their channels (every path gives the same size). An empty path "
        "is the input itself.",
        options={
            "branches": Option(LAYER_LISTS, "the paths: a list of two or more layer lists"),
            "merge": Option({"enum": ["sum", "concat"]}, "how the paths' outputs are joined", "sum"),
            "gain": GAIN,
        },
        output_shape=_branches_shape,
        build=deferred("archgan.layers.modules.blocks:build_branches"),
        parameters=no_parameters,
        example={"type": "branches", "merge": "concat",
                 "branches": [[{"type": "conv", "channels": 32}], [{"type": "conv", "channels": 32, "kernel": 1}]]},
        label=lambda o: f"branches ({o['merge']}{_gain_text(o['gain']) if o['merge'] == 'sum' else ''})",
    )
)
