"""Weighted layers as modules: conv, conv_transpose, dense, to_rgb, from_rgb and a bias on its own.

All of them share one module, `WeightedLayer`, which owns the weight, the bias, the activation and
the two weight treatments the GAN literature uses:
- equalized learning rate (Karras et al. 2018): weights are drawn from N(0, 1) and multiplied at run
  time by gain/sqrt(fan_in), so every weight learns at the same speed under Adam. The scale is applied
  to the weight (a few thousand multiplies) rather than to the activations.
- spectral normalization (Miyato et al. 2018) through torch's parametrization.
- a learning-rate multiplier (StyleGAN's mapping network, as stylegan2-ada-pytorch's FullyConnectedLayer):
  weight and bias are stored divided by lr_multiplier and multiplied by it at run time, so the layer
  computes the same at the start but its gradients, and so Adam's steps, shrink by that factor.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from ..conv import conv_arguments, dense_output_shape, out_channels
from ..registry import BuildContext, Options, Shape
from .activations import build_activation


class WeightedLayer(nn.Module):
    """A convolution, transposed convolution or linear map, with bias, weight scale and activation."""

    def __init__(
        self,
        operation: Callable[..., torch.Tensor],
        weight_shape: tuple[int, ...],
        fan_in: int,
        bias_channels: int,
        options: Options,
        operation_kwargs: dict[str, Any] | None = None,
        flatten_input: bool = False,
        output_shape: tuple[int, ...] | None = None,
    ):
        super().__init__()
        self.operation = operation
        self.flatten_input = flatten_input
        self.operation_kwargs = operation_kwargs or {}
        self.output_shape = output_shape
        self.weight = nn.Parameter(torch.empty(weight_shape))
        self.bias = nn.Parameter(torch.zeros(bias_channels)) if options["bias"] else None
        initialize(self.weight, self.bias, options)
        lr_multiplier = options["lr_multiplier"]
        with torch.no_grad():
            self.weight.div_(lr_multiplier)
            if self.bias is not None:
                self.bias.div_(lr_multiplier)
        equalized = options["gain"] / math.sqrt(fan_in) if options["equalized_lr"] else 1.0
        self.weight_scale = equalized * lr_multiplier
        self.bias_scale = lr_multiplier
        self.activation = build_activation(options["activation"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.weight * self.weight_scale if self.weight_scale != 1.0 else self.weight
        bias = self.bias * self.bias_scale if self.bias is not None and self.bias_scale != 1.0 else self.bias
        if self.flatten_input:
            x = x.flatten(1)
        if self.output_shape is None:
            x = self.operation(x, weight, bias, **self.operation_kwargs)
        else:  # dense with reshape: one bias per channel of the reshaped map, as the official ProGAN
            x = self.operation(x, weight).view(x.shape[0], *self.output_shape)
            if bias is not None:
                x = x + bias.view(1, -1, 1, 1)
        return self.activation(x)

    def extra_repr(self) -> str:
        return f"weight={tuple(self.weight.shape)}, weight_scale={self.weight_scale:.6g}, bias_scale={self.bias_scale:.6g}"


def initialize(weight: torch.Tensor, bias: torch.Tensor | None, options: Options) -> None:
    """Draw the weight as `init` says (the bias starts at zero, except PyTorch's own default's)."""
    init, scale = options["init"], options["init_scale"]
    if init == "auto" and not options["equalized_lr"]:  # PyTorch's own initialisation of conv and linear layers
        nn.init.kaiming_uniform_(weight, a=math.sqrt(5))
        if bias is not None:
            bound = 1.0 / math.sqrt(nn.init._calculate_fan_in_and_fan_out(weight)[0])
            nn.init.uniform_(bias, -bound, bound)
    elif init == "auto":
        nn.init.normal_(weight)
    elif init == "normal":
        nn.init.normal_(weight, std=scale)
    elif init == "orthogonal":
        nn.init.orthogonal_(weight, gain=scale)
    else:
        nn.init.xavier_uniform_(weight, gain=scale)


def make_conv(
    in_channels: int,
    out_channels: int,
    kernel: int,
    options: Options,
    stride: int = 1,
    padding: int = 0,
    transpose: bool = False,
    output_padding: int = 0,
) -> nn.Module:
    """A convolution (or transposed convolution) with the weight treatments `options` asks for
    (bias, activation, equalized_lr, gain, spectral_norm); attention layers build theirs here too.
    Spectral norm takes the weight's first dimension as the rows of the matrix: output channels of a
    convolution, input channels of a transposed one, as Miyato et al.'s own code and attn_gan_pytorch
    (torch's ConvTranspose default uses the output channels instead)."""
    if transpose:
        shape, operation = (in_channels, out_channels, kernel, kernel), F.conv_transpose2d
        arguments = {"stride": stride, "padding": padding, "output_padding": output_padding}
    else:
        shape, operation = (out_channels, in_channels, kernel, kernel), F.conv2d
        arguments = {"stride": stride, "padding": padding}
    layer = WeightedLayer(operation, shape, in_channels * kernel * kernel, out_channels, options, arguments)
    return spectral_norm(layer) if options["spectral_norm"] else layer


def build_conv(options: Options, shape: Shape, context: BuildContext) -> nn.Module:
    """conv, to_rgb and from_rgb."""
    kernel, stride, padding = conv_arguments(options)
    return make_conv(shape[0], out_channels(options, context), kernel, options, stride=stride, padding=padding)


def build_conv_transpose(options: Options, shape: Shape, context: BuildContext) -> nn.Module:
    return make_conv(shape[0], options["channels"], options["kernel"], options, stride=options["stride"],
                     padding=options["padding"], transpose=True, output_padding=options["output_padding"])


def build_dense(options: Options, shape: Shape, context: BuildContext) -> nn.Module:
    in_features = math.prod(shape)
    output_shape = dense_output_shape(options)
    layer = WeightedLayer(
        F.linear,
        (math.prod(output_shape), in_features),
        fan_in=in_features,
        bias_channels=options["channels"],
        options=options,
        flatten_input=True,
        output_shape=output_shape if options["reshape"] else None,
    )
    return spectral_norm(layer) if options["spectral_norm"] else layer


class Bias(nn.Module):
    """x + bias per channel (stored divided by lr_multiplier, as WeightedLayer's), then the activation."""

    def __init__(self, channels: int, options: Options):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))
        self.bias_scale = options["lr_multiplier"]
        self.activation = build_activation(options["activation"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = self.bias * self.bias_scale if self.bias_scale != 1.0 else self.bias
        return self.activation(x + bias.to(x.dtype).view(1, -1, *([1] * (x.ndim - 2))))

    def extra_repr(self) -> str:
        return f"channels={self.bias.shape[0]}, bias_scale={self.bias_scale:.6g}"


def build_bias(options: Options, shape: Shape, context: BuildContext) -> nn.Module:
    return Bias(shape[0], options)
