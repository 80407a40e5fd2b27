"""Attention layers: self_attention (SAGAN, Zhang et al. 2019, and the BigGAN form APGAN uses) and
full_attention (FAGAN's layer from attn_gan_pytorch). Both attend with
torch.nn.functional.scaled_dot_product_attention at scale 1, as these papers do (no 1/sqrt(d)), and
start as the layer they wrap: gamma is a learned scalar that starts at 0."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .activations import activation_option, build_activation
from .conv import POSITIVE_INT, NON_NEGATIVE_INT, SQRT2, conv_output_size, make_conv
from .registry import BuildContext, LayerType, Option, Options, Shape, ShapeError, feature_map, register


def attend(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """out[:, :, i] = Σ_j softmax_j(q_i · k_j) v[:, :, j] for q [B, Ck, Nq], k [B, Ck, Nk], v [B, Cv, Nk]."""
    heads = [t.transpose(1, 2).unsqueeze(1) for t in (query, key, value)]
    return F.scaled_dot_product_attention(*heads, scale=1.0).squeeze(1).transpose(1, 2)


def _plain_conv_options(bias: bool, spectral: bool) -> Options:
    return {"bias": bias, "activation": {"type": "linear"}, "equalized_lr": False, "gain": SQRT2, "spectral_norm": spectral}


def _attention_input(shape: Shape, layer: str, options: Options) -> tuple[int, int, int]:
    """The input's (channels, height, width), once it is known to be a map wide enough to squeeze."""
    channels, height, width = feature_map(shape, layer)
    if channels // options["squeeze_factor"] < 1:
        raise ShapeError(f"squeeze_factor {options['squeeze_factor']} leaves no query/key channels of {channels}")
    return channels, height, width


# ------------------------------------------------------------------------------- self_attention


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


def _self_attention_shape(options: Options, shape: Shape, context: BuildContext) -> Shape:
    channels, height, width = _attention_input(shape, "self_attention", options)
    if channels // options["value_squeeze_factor"] != channels and not options["output_projection"]:
        raise ShapeError("value channels differ from the input channels: set output_projection: true")
    if options["pool"] and (height % 2 or width % 2):
        raise ShapeError(f"pool halves keys and values, which needs an even size, not {height}×{width}")
    return shape


register(
    LayerType(
        name="self_attention",
        family="attention",
        doc="Self-attention over all positions, added to the input through a gamma that starts at 0 "
        "(SAGAN; with value_squeeze_factor 2, pool, output_projection and spectral_norm: the BigGAN form).",
        options={
            "squeeze_factor": Option(POSITIVE_INT, "query/key channels = input channels / this", 8),
            "value_squeeze_factor": Option(POSITIVE_INT, "value channels = input channels / this (BigGAN: 2)", 1),
            "pool": Option({"type": "boolean"}, "max-pool keys and values 2×2 (BigGAN)", False),
            "output_projection": Option({"type": "boolean"}, "a 1×1 convolution from the values back to the input channels (BigGAN)", False),
            "bias": Option({"type": "boolean"}, "biases on the 1×1 convolutions", True),
            "spectral_norm": Option({"type": "boolean"}, "spectral norm on every convolution", False),
            "activation": activation_option("linear"),
        },
        output_shape=_self_attention_shape,
        build=lambda o, shape, context: SelfAttention(shape[0], o),
        example={"type": "self_attention", "squeeze_factor": 8},
    )
)


# ------------------------------------------------------------------------------- full_attention


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


def _full_attention_shape(options: Options, shape: Shape, context: BuildContext) -> Shape:
    channels, height, width = _attention_input(shape, "full_attention", options)
    size = [conv_output_size(s, options["kernel"], options["stride"], options["padding"], options["transpose"])
            for s in (height, width)]
    if min(size) < 1:
        raise ShapeError(f"a {options['kernel']}×{options['kernel']} kernel does not fit a {height}×{width} input")
    return (options["channels"], size[0], size[1])


def _full_attention_label(options: Options) -> str:
    stride = f" /{options['stride']}" if options["stride"] != 1 and not options["transpose"] else ""
    up = f" ×{options['stride']}" if options["stride"] != 1 and options["transpose"] else ""
    return f"full_attention {options['kernel']}×{options['kernel']}{stride}{up}"


register(
    LayerType(
        name="full_attention",
        family="attention",
        doc="FAGAN's full-attention layer: k×k query/key/value convolutions (transposed to upsample) "
        "attending over all output positions, blended by a gamma from 0 with a residual convolution.",
        options={
            "channels": Option(POSITIVE_INT, "output channels"),
            "kernel": Option(POSITIVE_INT, "kernel size of all four convolutions", 1),
            "stride": Option(POSITIVE_INT, "stride (the upsampling factor when transposed)", 1),
            "padding": Option(NON_NEGATIVE_INT, "padding", 0),
            "transpose": Option({"type": "boolean"}, "use transposed convolutions", False),
            "squeeze_factor": Option(POSITIVE_INT, "query/key channels = input channels / this", 8),
            "bias": Option({"type": "boolean"}, "biases on the convolutions", True),
            "spectral_norm": Option({"type": "boolean"}, "spectral norm on the residual convolution", True),
            "batchnorm": Option({"type": "boolean"}, "batch norm on the residual path", True),
            "activation": activation_option("linear"),
        },
        output_shape=_full_attention_shape,
        build=lambda o, shape, context: FullAttention(shape[0], o),
        example={"type": "full_attention", "channels": 256, "kernel": 4, "stride": 2, "padding": 1,
                 "transpose": True, "activation": {"type": "lrelu", "slope": 0.3}},
        label=_full_attention_label,
    )
)
