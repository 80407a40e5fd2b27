"""Spec -> modules: every layer entry becomes the module its registered type builds."""
from __future__ import annotations

from typing import Sequence

from torch import nn

from ..layers import BuildContext, Shape, layer_type
from ..spec.model import LayerSpec
from ..spec.shapes import trace


def build_layers(layers: Sequence[LayerSpec], shape: Shape, context: BuildContext) -> nn.Sequential:
    """An nn.Sequential of the layers (module i is layer i of the list) for inputs of `shape`."""
    return nn.Sequential(*(layer_type(layer.type).build(layer.to_dict(), received, context)
                           for layer, received, _ in trace(layers, shape, context)))
