"""Attention modules. Both attend with torch.nn.functional.scaled_dot_product_attention at scale 1."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..conv import SQRT2, weight_options
from ..registry import BuildContext, Options, Shape
from .activations import build_activation
from .conv import make_conv


def attend(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """out[:, :, i] = Σ_j softmax_j(q_i · k_j) v[:, :, j] for q [B, Ck, Nq], k [B, Ck, Nk], v [B, Cv, Nk]."""
    heads = [t.transpose(1, 2).unsqueeze(1) for t in (query, key, value)]
    return F.scaled_dot_product_attention(*heads, scale=1.0).squeeze(1).transpose(1, 2)


def _plain_conv_options(bias: bool, spectral: bool) -> Options:
    """A plain convolution's options (PyTorch's initialisation, linear) with or without bias and spectral norm."""
    defaults = {name: option.default for name, option in weight_options("linear", SQRT2).items()}
    return defaults | {"bias": bias, "activation": {"type": "linear"}, "spectral_norm": spectral}


class SelfAttention(nn.Module):
    """out = gamma·act(attention) + x with 1×1 query/key/value convolutions. SAGAN: key channels
    C/8, value channels C. BigGAN form (as APGAN's code uses it): value channels C/2, key and value
    max-pooled 2×2, a 1×1 projection back to C, spectral norm on all four convolutions (BigGAN leaves
    out the biases, APGAN keeps them)."""

    def __init__(self, channels: int, options: Options):
        super().__init__()
        conv_options = _plain_conv_options(options["bias"], options["spectral_norm"])
        key_channels = channels // options["squeeze_factor"]
        value_channels = channels // options["value_squeeze_factor"]
        self.query = make_conv(channels, key_channels, 1, conv_options)
        self.key = make_conv(channels, key_channels, 1, conv_options)
        self.value = make_conv(channels, value_channels, 1, conv_options)
        self.output = make_conv(value_channels, channels, 1, conv_options) if options["output_projection"] else None
        self.pool = options["pool"]
        self.activation = build_activation(options["activation"])
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, _, height, width = x.shape
        key, value = self.key(x), self.value(x)
        if self.pool:
            key, value = F.max_pool2d(key, 2), F.max_pool2d(value, 2)
        out = attend(self.query(x).flatten(2), key.flatten(2), value.flatten(2)).reshape(batch, -1, height, width)
        if self.output is not None:
            out = self.output(out)
        return self.gamma * self.activation(out) + x


class FullAttention(nn.Module):
    """FAGAN's full attention: query/key/value convolutions with a k×k kernel (or transposed ones), so
    each position attends with a local neighbourhood; beside it a residual convolution (spectral norm
    optional), batch norm on the residual path, one activation on both paths:
    out = gamma·act(attention) + (1 − gamma)·act(bn(residual))."""

    def __init__(self, in_channels: int, options: Options):
        super().__init__()
        kernel, out = options["kernel"], options["channels"]
        squeezed = in_channels // options["squeeze_factor"]

        def conv(channels: int, spectral: bool) -> nn.Module:
            return make_conv(in_channels, channels, kernel, _plain_conv_options(options["bias"], spectral),
                             stride=options["stride"], padding=options["padding"], transpose=options["transpose"])

        self.query, self.key, self.value = conv(squeezed, False), conv(squeezed, False), conv(out, False)
        self.residual = conv(out, options["spectral_norm"])
        self.batchnorm = nn.BatchNorm2d(out) if options["batchnorm"] else None
        self.activation = build_activation(options["activation"])
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        value = self.value(x)
        out = attend(self.query(x).flatten(2), self.key(x).flatten(2), value.flatten(2)).reshape(value.shape)
        residual = self.residual(x)
        if self.batchnorm is not None:
            residual = self.batchnorm(residual)
        return self.gamma * self.activation(out) + (1 - self.gamma) * self.activation(residual)


def build_self_attention(options: Options, shape: Shape, context: BuildContext) -> nn.Module:
    return SelfAttention(shape[0], options)


def build_full_attention(options: Options, shape: Shape, context: BuildContext) -> nn.Module:
    return FullAttention(shape[0], options)
