"""Weighted layers: conv, conv_transpose, dense, to_rgb, from_rgb and a bias on its own (their modules:
modules/conv.py).

Equalized learning rate (Karras et al. 2018) draws weights from N(0, 1) and scales them at run time by
gain/sqrt(fan_in); spectral normalization (Miyato et al. 2018) divides them by their largest singular
value; `lr_multiplier` (StyleGAN's mapping network: 0.01) slows a layer's learning by storing its weight and
bias divided by it and multiplying them back at run time; `init` chooses how the weight is drawn. All are
options of every weighted layer (`weight_options`).
"""
from __future__ import annotations

import math

from ..lazy import deferred
from .activations import activation_option
from .registry import (
    NON_NEGATIVE_SIZE,
    POSITIVE_SIZE,
    WIDTH,
    BuildContext,
    LayerType,
    Option,
    Options,
    Shape,
    ShapeError,
    channels_option,
    feature_map,
    register,
    same_shape,
)

SQRT2 = math.sqrt(2.0)


INITS = ("auto", "normal", "orthogonal", "xavier")


LR_MULTIPLIER = Option(
    {"type": "number", "exclusiveMinimum": 0, "maximum": 1000},
    "learning-rate multiplier of weight and bias: both are stored divided by it and multiplied by it "
    "at run time, so their start is unchanged and they learn that much slower (StyleGAN's mapping: 0.01)",
    1.0,
)


def weight_options(activation: str, gain: float) -> dict[str, Option]:
    """The options every weighted layer has (conv, conv_transpose, dense, to_rgb, from_rgb)."""
    return {
        "bias": Option({"type": "boolean"}, "add a learned bias (one per output channel)", True),
        "activation": activation_option(activation),
        "equalized_lr": Option(
            {"type": "boolean"},
            "equalized learning rate: N(0,1) weights scaled at run time by gain/sqrt(fan_in), zero bias",
            False,
        ),
        "gain": Option({"type": "number", "exclusiveMinimum": 0}, "gain of the equalized-LR scale", gain),
        "spectral_norm": Option({"type": "boolean"}, "divide the weight by its largest singular value", False),
        "init": Option(
            {"enum": list(INITS)},
            "how the weight is drawn: auto (N(0,1) with equalized_lr, else PyTorch's default), normal "
            "(std `init_scale`), orthogonal or xavier (uniform; gain `init_scale`); the bias starts at zero "
            "unless auto without equalized_lr",
            "auto",
        ),
        "init_scale": Option({"type": "number", "exclusiveMinimum": 0},
                             "the std of init normal, the gain of init orthogonal and xavier", 1.0),
        "lr_multiplier": LR_MULTIPLIER,
    }


def conv_output_size(size: int, kernel: int, stride: int, padding: int, transpose: bool, output_padding: int = 0) -> int:
    if transpose:
        return (size - 1) * stride - 2 * padding + kernel + output_padding
    return (size + 2 * padding - kernel) // stride + 1


def conv_parameters(in_channels: int, out_channels: int, kernel: int, bias: bool) -> int:
    """Weights and biases of a (transposed) convolution."""
    return in_channels * out_channels * kernel * kernel + (out_channels if bias else 0)


def _padding(options: Options) -> int:
    padding, kernel = options["padding"], options["kernel"]
    if padding == "same":
        if kernel % 2 == 0:
            raise ShapeError(f"padding 'same' needs an odd kernel, but kernel is {kernel}; give padding as a number")
        return kernel // 2
    return padding


def conv_arguments(options: Options) -> tuple[int, int, int]:
    """(kernel, stride, padding) of a conv, to_rgb or from_rgb entry (the heads have stride 1)."""
    return options["kernel"], options.get("stride", 1), _padding(options)


def out_channels(options: Options, context: BuildContext) -> int:
    return context.image_channels if options["type"] == "to_rgb" else options["channels"]


# ---------------------------------------------------------------------------------------- conv


def _conv_shape(options: Options, shape: Shape, context: BuildContext) -> Shape:
    _, height, width = feature_map(shape, options["type"])
    kernel, stride, padding = conv_arguments(options)
    out = [conv_output_size(size, kernel, stride, padding, transpose=False) for size in (height, width)]
    if min(out) < 1:
        raise ShapeError(f"a {kernel}×{kernel} kernel with padding {padding} does not fit a {height}×{width} input")
    return (out_channels(options, context), out[0], out[1])


def _conv_parameters(options: Options, shape: Shape, context: BuildContext) -> int:
    return conv_parameters(shape[0], out_channels(options, context), options["kernel"], options["bias"])


def _conv_label(options: Options) -> str:
    stride = options.get("stride", 1)
    scale = "" if stride == 1 else f" ×{stride}" if options["type"] == "conv_transpose" else f" /{stride}"
    return f"{options['type']} {options['kernel']}×{options['kernel']}{scale}"


_KERNEL_STRIDE_PADDING = {
    "kernel": Option(POSITIVE_SIZE, "kernel size (square)", 3),
    "stride": Option(POSITIVE_SIZE, "stride", 1),
    "padding": Option(
        {"anyOf": [NON_NEGATIVE_SIZE, {"const": "same"}]},
        "zero padding on each side, or 'same' (kernel // 2, odd kernels only)",
        "same",
    ),
}
_build_conv = deferred("archgan.layers.modules.conv:build_conv")

register(
    LayerType(
        name="conv",
        family="conv",
        doc="2-D convolution; input channels come from the layer before.",
        options={"channels": channels_option()}
        | _KERNEL_STRIDE_PADDING
        | weight_options(activation="linear", gain=SQRT2),
        output_shape=_conv_shape,
        build=_build_conv,
        parameters=_conv_parameters,
        example={"type": "conv", "channels": 512, "kernel": 3, "activation": "lrelu", "equalized_lr": True},
        label=_conv_label,
    )
)

register(
    LayerType(
        name="to_rgb",
        family="rgb",
        doc="Generator output head of a stage: a convolution to the image channels (ProGAN: 1×1, gain 1, linear).",
        options={"kernel": Option(POSITIVE_SIZE, "kernel size (square)", 1),
                 "padding": _KERNEL_STRIDE_PADDING["padding"]}
        | weight_options(activation="linear", gain=1.0),
        output_shape=_conv_shape,
        build=_build_conv,
        parameters=_conv_parameters,
        example={"type": "to_rgb", "equalized_lr": True},
        label=_conv_label,
    )
)

register(
    LayerType(
        name="from_rgb",
        family="rgb",
        doc="Discriminator input head of a stage: a convolution from the image to `channels` feature maps. "
        "`channels` may be left out on every stage but the first: it is then the width the stage receives "
        "from the stage above it.",
        options={"channels": channels_option("output channels; null or left out: inferred (see above)",
                                             schema={"anyOf": [WIDTH, {"type": "null"}]}, default=None),
                 "kernel": Option(POSITIVE_SIZE, "kernel size (square)", 1),
                 "padding": _KERNEL_STRIDE_PADDING["padding"]}
        | weight_options(activation="linear", gain=SQRT2),
        output_shape=_conv_shape,
        build=_build_conv,
        parameters=_conv_parameters,
        example={"type": "from_rgb", "channels": 16, "activation": "lrelu", "equalized_lr": True},
        label=_conv_label,
    )
)


# ------------------------------------------------------------------------------ conv_transpose


def _conv_transpose_shape(options: Options, shape: Shape, context: BuildContext) -> Shape:
    _, height, width = feature_map(shape, "conv_transpose")
    kernel, stride, padding = options["kernel"], options["stride"], options["padding"]
    out = [conv_output_size(size, kernel, stride, padding, True, options["output_padding"]) for size in (height, width)]
    if options["output_padding"] >= stride:
        raise ShapeError(f"output_padding ({options['output_padding']}) must be smaller than stride ({stride})")
    if min(out) < 1:
        raise ShapeError(f"a transposed {kernel}×{kernel} kernel with padding {padding} gives an empty output")
    return (options["channels"], out[0], out[1])


register(
    LayerType(
        name="conv_transpose",
        family="conv",
        doc="2-D transposed convolution (e.g. 4×4 from a 1×1 latent, or ×2 upsampling with stride 2).",
        options={
            "channels": channels_option(),
            "kernel": Option(POSITIVE_SIZE, "kernel size (square)", 4),
            "stride": Option(POSITIVE_SIZE, "stride (the upsampling factor)", 1),
            "padding": Option(NON_NEGATIVE_SIZE, "implicit zero padding removed from each side", 0),
            "output_padding": Option(NON_NEGATIVE_SIZE, "extra rows/columns added to one side of the output", 0),
        }
        | weight_options(activation="linear", gain=SQRT2),
        output_shape=_conv_transpose_shape,
        build=deferred("archgan.layers.modules.conv:build_conv_transpose"),
        parameters=lambda o, shape, context: conv_parameters(shape[0], o["channels"], o["kernel"], o["bias"]),
        example={"type": "conv_transpose", "channels": 256, "kernel": 4, "stride": 2, "padding": 1},
        label=_conv_label,
    )
)


# ---------------------------------------------------------------------------------------- dense


def dense_output_shape(options: Options) -> Shape:
    reshape = options["reshape"]
    return (options["channels"], *reshape) if reshape else (options["channels"],)


def _dense_parameters(options: Options, shape: Shape, context: BuildContext) -> int:
    """One weight per input and output value; one bias per channel, also when reshaped."""
    return math.prod(shape) * math.prod(dense_output_shape(options)) + (options["channels"] if options["bias"] else 0)


def _dense_label(options: Options) -> str:
    reshape = options["reshape"]
    return f"dense → {options['channels']}×{reshape[0]}×{reshape[1]}" if reshape else "dense"


register(
    LayerType(
        name="dense",
        family="conv",
        doc="Fully connected layer on the flattened input; with `reshape: [H, W]` it outputs a "
        "channels×H×W map with one bias per channel (ProGAN's 4×4 generator input).",
        options={
            "channels": channels_option("output features (output channels when reshaped)"),
            "reshape": Option(
                {"anyOf": [{"type": "array", "items": POSITIVE_SIZE, "minItems": 2, "maxItems": 2}, {"type": "null"}]},
                "[height, width] of the output map, or null for a flat vector",
                None,
            ),
        }
        | weight_options(activation="linear", gain=SQRT2),
        output_shape=lambda options, shape, context: dense_output_shape(options),
        build=deferred("archgan.layers.modules.conv:build_dense"),
        parameters=_dense_parameters,
        example={"type": "dense", "channels": 512, "reshape": [4, 4], "gain": 0.3535533905932738},
        label=_dense_label,
    )
)


# ----------------------------------------------------------------------------------------- bias

register(
    LayerType(
        name="bias",
        family="conv",
        doc="A learned value per channel (or feature) added to the input, starting at 0, then an activation: "
        "a bias where it is not part of the layer before, as StyleGAN's after its noise (a convolution with "
        "`bias: false`, a blur, the noise, then this; blurring a bias changes it at the borders).",
        options={"activation": activation_option("linear"), "lr_multiplier": LR_MULTIPLIER},
        output_shape=same_shape,
        build=deferred("archgan.layers.modules.conv:build_bias"),
        parameters=lambda options, shape, context: shape[0],
        example={"type": "bias", "activation": "lrelu"},
    )
)
