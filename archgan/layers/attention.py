"""Attention layers: self_attention (SAGAN, Zhang et al. 2019, and the BigGAN form APGAN uses) and
full_attention (FAGAN's layer from attn_gan_pytorch); their modules: modules/attention.py. Both attend
at scale 1, as these papers do (no 1/sqrt(d)), and start as the layer they wrap: gamma is a learned
scalar that starts at 0."""
from __future__ import annotations

from ..lazy import deferred
from .activations import activation_option
from .conv import conv_output_size, conv_parameters
from .registry import (NON_NEGATIVE_SIZE, POSITIVE_SIZE, WIDTH, BuildContext, LayerType, Option, Options, Shape,
                       channels_option,
                       ShapeError, feature_map, register)


def _attention_input(shape: Shape, layer: str, options: Options) -> tuple[int, int, int]:
    """The input's (channels, height, width), once it is known to be a map wide enough to squeeze."""
    channels, height, width = feature_map(shape, layer)
    if channels // options["squeeze_factor"] < 1:
        raise ShapeError(f"squeeze_factor {options['squeeze_factor']} leaves no query/key channels of {channels}")
    return channels, height, width


def _score_maps(queries: int, keys: int) -> int:
    """The attention scores and their softmax, queries × keys each: what PyTorch's attention keeps for
    the backward pass when it computes attention plainly (on the CPU, and for a penalty's double
    backward; fused GPU kernels keep less)."""
    return 2 * queries * keys


# ------------------------------------------------------------------------------- self_attention


def _self_attention_shape(options: Options, shape: Shape, context: BuildContext) -> Shape:
    channels, height, width = _attention_input(shape, "self_attention", options)
    if channels // options["value_squeeze_factor"] != channels and not options["output_projection"]:
        raise ShapeError("value channels differ from the input channels: set output_projection: true")
    if options["pool"] and (height % 2 or width % 2):
        raise ShapeError(f"pool halves keys and values, which needs an even size, not {height}×{width}")
    return shape


def _self_attention_inner_values(options: Options, shape: Shape, context: BuildContext) -> int:
    """Query, key and value maps (keys and values pooled ×½ with `pool`), the score maps, the attended values."""
    channels, height, width = shape
    positions, keys = height * width, height * width // (4 if options["pool"] else 1)
    key_channels, values = channels // options["squeeze_factor"], channels // options["value_squeeze_factor"]
    maps = key_channels * (positions + keys) + values * (keys + positions)
    return maps + _score_maps(positions, keys)


def _self_attention_parameters(options: Options, shape: Shape, context: BuildContext) -> int:
    """1×1 query and key (C → C/squeeze), value (C → C/value_squeeze), the optional projection back, gamma."""
    channels, bias = shape[0], options["bias"]
    keys, values = channels // options["squeeze_factor"], channels // options["value_squeeze_factor"]
    total = 2 * conv_parameters(channels, keys, 1, bias) + conv_parameters(channels, values, 1, bias) + 1
    return total + (conv_parameters(values, channels, 1, bias) if options["output_projection"] else 0)


register(
    LayerType(
        name="self_attention",
        family="attention",
        doc="Self-attention over all positions, added to the input through a gamma that starts at 0 "
        "(SAGAN; with value_squeeze_factor 2, pool, output_projection and spectral_norm: the BigGAN form).",
        options={
            "squeeze_factor": Option(WIDTH, "query/key channels = input channels / this", 8),
            "value_squeeze_factor": Option(WIDTH, "value channels = input channels / this (BigGAN: 2)", 1),
            "pool": Option({"type": "boolean"}, "max-pool keys and values 2×2 (BigGAN)", False),
            "output_projection": Option({"type": "boolean"}, "a 1×1 convolution from the values back to the input channels (BigGAN)", False),
            "bias": Option({"type": "boolean"}, "biases on the 1×1 convolutions", True),
            "spectral_norm": Option({"type": "boolean"}, "spectral norm on every convolution", False),
            "activation": activation_option("linear"),
        },
        output_shape=_self_attention_shape,
        build=deferred("archgan.layers.modules.attention:build_self_attention"),
        parameters=_self_attention_parameters,
        example={"type": "self_attention", "squeeze_factor": 8},
        inner_values=_self_attention_inner_values,
    )
)


# ------------------------------------------------------------------------------- full_attention


def _full_attention_shape(options: Options, shape: Shape, context: BuildContext) -> Shape:
    channels, height, width = _attention_input(shape, "full_attention", options)
    size = [conv_output_size(s, options["kernel"], options["stride"], options["padding"], options["transpose"])
            for s in (height, width)]
    if min(size) < 1:
        raise ShapeError(f"a {options['kernel']}×{options['kernel']} kernel does not fit a {height}×{width} input")
    return (options["channels"], size[0], size[1])


def _full_attention_inner_values(options: Options, shape: Shape, context: BuildContext) -> int:
    """Query and key maps, value, residual and attended maps (the output's size), the score maps."""
    out_channels, height, width = _full_attention_shape(options, shape, context)
    positions = height * width
    squeezed = shape[0] // options["squeeze_factor"]
    return (2 * squeezed + 3 * out_channels) * positions + _score_maps(positions, positions)


def _full_attention_parameters(options: Options, shape: Shape, context: BuildContext) -> int:
    """k×k query and key (C → C/squeeze), value and residual (C → out), the optional batch norm, gamma."""
    channels, out, kernel, bias = shape[0], options["channels"], options["kernel"], options["bias"]
    squeezed = channels // options["squeeze_factor"]
    total = 2 * conv_parameters(channels, squeezed, kernel, bias) + 2 * conv_parameters(channels, out, kernel, bias)
    return total + (2 * out if options["batchnorm"] else 0) + 1


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
            "channels": channels_option(),
            "kernel": Option(POSITIVE_SIZE, "kernel size of all four convolutions", 1),
            "stride": Option(POSITIVE_SIZE, "stride (the upsampling factor when transposed)", 1),
            "padding": Option(NON_NEGATIVE_SIZE, "padding", 0),
            "transpose": Option({"type": "boolean"}, "use transposed convolutions", False),
            "squeeze_factor": Option(WIDTH, "query/key channels = input channels / this", 8),
            "bias": Option({"type": "boolean"}, "biases on the convolutions", True),
            "spectral_norm": Option({"type": "boolean"}, "spectral norm on the residual convolution", True),
            "batchnorm": Option({"type": "boolean"}, "batch norm on the residual path", True),
            "activation": activation_option("linear"),
        },
        output_shape=_full_attention_shape,
        build=deferred("archgan.layers.modules.attention:build_full_attention"),
        parameters=_full_attention_parameters,
        example={"type": "full_attention", "channels": 256, "kernel": 4, "stride": 2, "padding": 1,
                 "transpose": True, "activation": {"type": "lrelu", "slope": 0.3}},
        label=_full_attention_label,
        inner_values=_full_attention_inner_values,
    )
)
