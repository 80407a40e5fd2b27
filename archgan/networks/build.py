"""Spec -> modules: every layer entry becomes the module its registered type builds."""
from __future__ import annotations

from typing import Sequence

from torch import nn

from ..layers import BuildContext, Shape, layer_type
from ..spec.model import LayerSpec
from ..spec.validate import trace


def build_layers(layers: Sequence[LayerSpec], shape: Shape, context: BuildContext) -> tuple[nn.Sequential, Shape]:
    """An nn.Sequential of the layers (module i is layer i of the list) and the shape it outputs."""
    modules = []
    for layer, in_shape, shape in trace(layers, shape, context):
        modules.append(layer_type(layer.type).build(layer.to_dict(), in_shape, context))
    return nn.Sequential(*modules), shape
