"""Modules that read the generator's style: the base class that picks a layer's own style, StyleGAN's
style modulation and StyleGAN2's modulated convolution."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..conv import conv_arguments
from ..registry import BuildContext, Options, Shape, layer_type
from .blocks import Inputs, TakesInputs
from .conv import build_dense
from .fir import STYLEGAN2_TAPS, fir_filter, fir_kernel


class ReadsStyle(TakesInputs):
    """A module that reads one of the generator's styles, inputs["style"] [N, L, w]: the `style_index`-th,
    which the Generator sets, counting the style layers in the order the network runs them."""

    style_index: int = 0

    def style(self, inputs: Inputs) -> torch.Tensor:
        return inputs["style"][:, self.style_index]


class StyleModulation(ReadsStyle):
    """x · (1 + s) + b, with [s, b] = dense(w): C scales, then C shifts (StyleGAN's style_mod)."""

    def __init__(self, dense: nn.Module):
        super().__init__()
        self.dense = dense

    def forward(self, x: torch.Tensor, inputs: Inputs) -> torch.Tensor:
        style = self.dense(self.style(inputs)).to(x.dtype).view(x.shape[0], 2, x.shape[1], *([1] * (x.ndim - 2)))
        return x * (style[:, 0] + 1) + style[:, 1]

    def extra_repr(self) -> str:
        return f"style_index={self.style_index}"


def build_style_modulation(options: Options, shape: Shape, context: BuildContext) -> nn.Module:
    dense_options = {**options, "channels": 2 * shape[0], "reshape": None, "activation": {"type": "linear"}}
    return StyleModulation(build_dense(dense_options, (context.style_size,), context))


class ModulatedConv(ReadsStyle):
    """StyleGAN2's modulated convolution: weight [O, I, k, k] times the scales affine(w) [N, I] gives each sample
    its own weight, demodulated (each output channel's weights divided by sqrt(sum of squares + 1e-8)) or, without,
    scaled by 1/sqrt(I·k·k) through the scales; the batch then runs as one convolution with N groups. With up 2,
    as StyleGAN2's conv2d_resample: a transposed convolution of stride 2 (its padding as large as the filter's
    padding allows), then the [1, 3, 3, 1] filter summing to 4, padded so that the output is 2H + 2·padding − k + 1
    wide, as a convolution of the upsampled map."""

    def __init__(self, affine: nn.Module, in_channels: int, out_channels: int, kernel: int, padding: int,
                 demodulate: bool, up: int):
        super().__init__()
        self.affine = affine
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel, kernel))
        self.demodulate, self.up = demodulate, up
        self.style_gain = 1.0 if demodulate else 1 / math.sqrt(in_channels * kernel * kernel)
        if up == 1:
            self.padding = padding
        else:  # the upsampled map's padding, split between the transposed convolution and the filter
            self.padding = max(kernel - 3 - padding, 0)
            self.filter_padding = (padding + 3 - kernel + self.padding,) * 4
            self.register_buffer("filter", fir_kernel(STYLEGAN2_TAPS, gain=4.0), persistent=False)

    def forward(self, x: torch.Tensor, inputs: Inputs) -> torch.Tensor:
        batch, in_channels = x.shape[:2]
        scales = self.affine(self.style(inputs))
        if self.style_gain != 1:
            scales = scales * self.style_gain
        if torch.jit.is_tracing() or torch.compiler.is_exporting():
            return self._scaling_activations(x, scales)
        weight = self.weight.unsqueeze(0) * scales.view(batch, 1, in_channels, 1, 1)  # [N, O, I, k, k]
        if self.demodulate:
            weight = weight * (weight.square().sum(dim=(2, 3, 4), keepdim=True) + 1e-8).rsqrt()
        y = self._convolve(x.reshape(1, -1, *x.shape[2:]), weight.flatten(0, 1).to(x.dtype), groups=batch)
        return y.reshape(batch, -1, *y.shape[2:])

    def _scaling_activations(self, x: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
        """The same sums with the shared weight, the scales applied to the input and the demodulation to the output,
        for export: ONNX's grouped convolution cannot take the batch size as its number of groups."""
        y = self._convolve(x * scales.to(x.dtype)[:, :, None, None], self.weight.to(x.dtype), groups=1)
        if self.demodulate:
            squares = scales.square() @ self.weight.square().sum(dim=(2, 3)).T  # [N, O]: each sample's Σ weight²
            y = y * (squares + 1e-8).rsqrt().to(x.dtype)[:, :, None, None]
        return y

    def _convolve(self, x: torch.Tensor, weight: torch.Tensor, groups: int) -> torch.Tensor:
        """x [., groups·I, H, W] with weight [groups·O, I, k, k]: a convolution, or with up 2 the transposed one
        (the weight regrouped as [groups·I, O, k, k]) and the filter."""
        if self.up == 1:
            return F.conv2d(x, weight, padding=self.padding, groups=groups)
        out_channels, in_channels, kernel = weight.shape[0] // groups, weight.shape[1], weight.shape[-1]
        transposed = weight.view(groups, out_channels, in_channels, kernel, kernel).transpose(1, 2)
        y = F.conv_transpose2d(x, transposed.reshape(groups * in_channels, out_channels, kernel, kernel), stride=2,
                               padding=self.padding, groups=groups)
        return fir_filter(y, self.filter, self.filter_padding)

    def extra_repr(self) -> str:
        return (f"weight={tuple(self.weight.shape)}, demodulate={self.demodulate}, up={self.up}, "
                f"style_index={self.style_index}")


def build_modulated_conv(options: Options, shape: Shape, context: BuildContext) -> nn.Module:
    """The affine layer is StyleGAN2's: equalized (gain 1), its bias starting at 1 so the scales start near 1."""
    affine_options = {**layer_type("dense").defaults(), "channels": shape[0], "equalized_lr": True, "gain": 1.0}
    affine = build_dense(affine_options, (context.style_size,), context)
    with torch.no_grad():
        affine.bias.fill_(1.0)
    kernel, _, padding = conv_arguments(options)
    return ModulatedConv(affine, shape[0], options["channels"], kernel, padding, options["demodulate"], options["up"])
