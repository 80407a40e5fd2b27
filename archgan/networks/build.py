"""Spec -> modules: every entry becomes the module its registered type builds; a block's paths are built
first, as layer lists of their own, and handed to the block's builder."""
from __future__ import annotations

from collections import OrderedDict
from typing import Sequence

from torch import nn

from ..layers import BuildContext, Shape, layer_type
from ..layers.modules.blocks import Chain
from ..spec.model import LayerSpec
from ..spec.shapes import trace


def build_layers(layers: Sequence[LayerSpec], shape: Shape, context: BuildContext) -> Chain:
    """A Chain (an nn.Sequential that passes named inputs on) of the layers for inputs of `shape`; each
    module is named by its entry's `name`, else by its position in the list (so unnamed layers keep the
    names they always had)."""
    return Chain(OrderedDict(
        (layer.name or str(index), build_layer(layer, received, context))
        for index, (layer, received, _) in enumerate(trace(layers, shape, context))
    ))


def build_layer(layer: LayerSpec, shape: Shape, context: BuildContext) -> nn.Module:
    """One entry's module for inputs of `shape` (a block gets its built paths in their options)."""
    paths = {path: build_layers(layers, shape, context) for path, layers in layer.paths()}
    return layer_type(layer.type).build(layer.resolved(paths), shape, context)
