"""Shape inference through layer lists, from the registry's shape rules (no modules are built)."""
from __future__ import annotations

from typing import Iterator, Sequence

from ..layers import BuildContext, Shape, ShapeError, layer_type
from .errors import SpecError
from .model import LayerSpec


def trace(
    layers: Sequence[LayerSpec], shape: Shape, context: BuildContext
) -> Iterator[tuple[LayerSpec, Shape, Shape]]:
    """Yield (layer, input shape, output shape) through a layer list; a layer that cannot take its
    input raises a SpecError naming the layer, the shape it received and why."""
    for layer in layers:
        options = layer.to_dict()
        try:
            out = layer_type(layer.type).output_shape(options, shape, context)
        except ShapeError as error:
            raise SpecError.single(
                layer.location,
                f"layer '{layer.type}' cannot take its input of shape {format_shape(shape)}: {error}",
                found=format_shape(shape),
            ) from None
        yield layer, shape, out
        shape = out


def output_shape(layers: Sequence[LayerSpec], shape: Shape, context: BuildContext) -> Shape:
    for _, _, shape in trace(layers, shape, context):
        pass
    return shape


def layer_parameters(layer: LayerSpec, shape: Shape, context: BuildContext) -> int:
    """Trainable values of one layer given its input shape, by its type's parameter rule."""
    return layer_type(layer.type).parameters(layer.to_dict(), shape, context)


def format_shape(shape: Shape) -> str:
    if len(shape) == 1:
        return f"{shape[0]} feature" + ("s" if shape[0] != 1 else "")
    return "×".join(str(s) for s in shape)
