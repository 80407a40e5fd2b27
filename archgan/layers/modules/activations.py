"""Activation modules, one builder per registered activation (named as the type); `build_activation`
also makes the `activation` of weighted and attention layers, through the registry. Without a gain or
clamp each is torch's own module, so networks built before these options existed stay the same."""
from __future__ import annotations

import torch
from torch import nn

from ..activations import normalize_activation
from ..registry import BuildContext, Options, Shape, layer_type


class GainClamp(nn.Module):
    """activation(x) · gain, clamped to [-clamp, clamp] (StyleGAN2's bias_act after its bias)."""

    def __init__(self, activation: nn.Module, gain: float, clamp: float | None):
        super().__init__()
        self.activation, self.gain, self.clamp = activation, gain, clamp

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.activation(x)
        if self.gain != 1:
            x = x * self.gain
        return x if self.clamp is None else x.clamp(-self.clamp, self.clamp)

    def extra_repr(self) -> str:
        return f"gain={self.gain:.6g}, clamp={self.clamp}"


def _with_gain(activation: nn.Module, options: Options) -> nn.Module:
    if options["gain"] == 1 and options["clamp"] is None:
        return activation
    return GainClamp(activation, options["gain"], options["clamp"])


def lrelu(options: Options, shape: Shape, context: BuildContext) -> nn.Module:
    return _with_gain(nn.LeakyReLU(options["slope"]), options)


def relu(options: Options, shape: Shape, context: BuildContext) -> nn.Module:
    return _with_gain(nn.ReLU(), options)


def tanh(options: Options, shape: Shape, context: BuildContext) -> nn.Module:
    return _with_gain(nn.Tanh(), options)


def linear(options: Options, shape: Shape, context: BuildContext) -> nn.Module:
    return _with_gain(nn.Identity(), options)


def build_activation(entry: Options) -> nn.Module:
    """The module of an activation entry such as {type: lrelu, slope: 0.2}; options left out take their
    defaults (an entry written before `gain` and `clamp` existed lacks them)."""
    entry = normalize_activation(entry)
    return layer_type(entry["type"]).build(entry, (), BuildContext(image_channels=0))
