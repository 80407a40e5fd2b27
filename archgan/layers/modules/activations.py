"""Activation modules, one builder per registered activation (named as the type); `build_activation`
also makes the `activation` of weighted and attention layers, through the registry."""
from __future__ import annotations

from torch import nn

from ..registry import BuildContext, Options, Shape, layer_type


def lrelu(options: Options, shape: Shape, context: BuildContext) -> nn.Module:
    return nn.LeakyReLU(options["slope"])


def relu(options: Options, shape: Shape, context: BuildContext) -> nn.Module:
    return nn.ReLU()


def tanh(options: Options, shape: Shape, context: BuildContext) -> nn.Module:
    return nn.Tanh()


def linear(options: Options, shape: Shape, context: BuildContext) -> nn.Module:
    return nn.Identity()


def build_activation(entry: Options) -> nn.Module:
    """The module of a normalized activation entry such as {type: lrelu, slope: 0.2}."""
    return layer_type(entry["type"]).build(entry, (), BuildContext(image_channels=0))
