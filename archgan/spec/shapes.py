"""Shape inference through layer lists, from the registry's shape rules (no modules are built)."""
from __future__ import annotations

from typing import Iterator, Sequence

from ..layers import BuildContext, Shape, ShapeError, layer_type
from ..layers.registry import format_shape
from .errors import SpecError
from .model import LayerSpec


def trace(
    layers: Sequence[LayerSpec], shape: Shape, context: BuildContext
) -> Iterator[tuple[LayerSpec, Shape, Shape]]:
    """Yield (layer, input shape, output shape) through a layer list; a layer that cannot take its
    input raises a SpecError naming the layer (inside a block: the entry in its path), the shape it
    received and why."""
    for layer in layers:
        out = layer_output_shape(layer, shape, context)
        yield layer, shape, out
        shape = out


def layer_output_shape(layer: LayerSpec, shape: Shape, context: BuildContext) -> Shape:
    """One entry's output; a block's paths are traced first, each from the block's input."""
    options = layer.resolved({path: output_shape(layers, shape, context) for path, layers in layer.paths()})
    try:
        return layer_type(layer.type).output_shape(options, shape, context)
    except ShapeError as error:
        raise SpecError.single(
            layer.location,
            f"layer '{layer.type}' cannot take its input of shape {format_shape(shape)}: {error}",
            found=format_shape(shape),
        ) from None


def output_shape(layers: Sequence[LayerSpec], shape: Shape, context: BuildContext) -> Shape:
    for _, _, shape in trace(layers, shape, context):
        pass
    return shape


def layer_parameters(layer: LayerSpec, shape: Shape, context: BuildContext) -> int:
    """Trainable values of one entry given its input shape, by its type's parameter rule; a block's
    include those of every layer in its paths."""
    options = layer.resolved({path: output_shape(layers, shape, context) for path, layers in layer.paths()})
    inside = sum(layer_parameters(inner, received, context)
                 for _, layers in layer.paths() for inner, received, _ in trace(layers, shape, context))
    return layer_type(layer.type).parameters(options, shape, context) + inside
