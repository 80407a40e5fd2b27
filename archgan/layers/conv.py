"""Weighted layers: conv, conv_transpose, dense, to_rgb and from_rgb.

All of them share one module, `WeightedLayer`, which owns the weight, the bias, the activation and
the two weight treatments the GAN literature uses:
- equalized learning rate (Karras et al. 2018): weights are drawn from N(0, 1) and multiplied at run
  time by gain/sqrt(fan_in), so every weight learns at the same speed under Adam. The scale is applied
  to the weight (a few thousand multiplies) rather than to the activations.
- spectral normalization (Miyato et al. 2018) through torch's parametrization.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from .activations import activation_option, build_activation
from .registry import BuildContext, LayerType, Option, Options, Shape, ShapeError, feature_map, register

SQRT2 = math.sqrt(2.0)

POSITIVE_INT = {"type": "integer", "minimum": 1}
NON_NEGATIVE_INT = {"type": "integer", "minimum": 0}


def _common_options(activation: str, gain: float) -> dict[str, Option]:
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
    }


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
        if options["equalized_lr"]:
            nn.init.normal_(self.weight)
            self.weight_scale = options["gain"] / math.sqrt(fan_in)
        else:  # PyTorch's own initialisation for conv and linear layers
            nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
            if self.bias is not None:
                bound = 1.0 / math.sqrt(nn.init._calculate_fan_in_and_fan_out(self.weight)[0])
                nn.init.uniform_(self.bias, -bound, bound)
            self.weight_scale = 1.0
        self.activation = build_activation(options["activation"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.weight * self.weight_scale if self.weight_scale != 1.0 else self.weight
        if self.flatten_input:
            x = x.flatten(1)
        if self.output_shape is None:
            x = self.operation(x, weight, self.bias, **self.operation_kwargs)
        else:  # dense with reshape: one bias per channel of the reshaped map, as the official ProGAN
            x = self.operation(x, weight).view(x.shape[0], *self.output_shape)
            if self.bias is not None:
                x = x + self.bias.view(1, -1, 1, 1)
        return self.activation(x)

    def extra_repr(self) -> str:
        return f"weight={tuple(self.weight.shape)}, weight_scale={self.weight_scale:.6g}"


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


def conv_output_size(size: int, kernel: int, stride: int, padding: int, transpose: bool, output_padding: int = 0) -> int:
    if transpose:
        return (size - 1) * stride - 2 * padding + kernel + output_padding
    return (size + 2 * padding - kernel) // stride + 1


def _padding(options: Options) -> int:
    padding, kernel = options["padding"], options["kernel"]
    if padding == "same":
        if kernel % 2 == 0:
            raise ShapeError(f"padding 'same' needs an odd kernel, but kernel is {kernel}; give padding as a number")
        return kernel // 2
    return padding


# ---------------------------------------------------------------------------------------- conv


def _conv_shape(options: Options, shape: Shape, context: BuildContext) -> Shape:
    _, height, width = feature_map(shape, options["type"])
    kernel, stride, padding = options["kernel"], options.get("stride", 1), _padding(options)
    out = [conv_output_size(size, kernel, stride, padding, transpose=False) for size in (height, width)]
    if min(out) < 1:
        raise ShapeError(f"a {kernel}×{kernel} kernel with padding {padding} does not fit a {height}×{width} input")
    return (_out_channels(options, context), out[0], out[1])


def _out_channels(options: Options, context: BuildContext) -> int:
    return context.image_channels if options["type"] == "to_rgb" else options["channels"]


def _build_conv(options: Options, shape: Shape, context: BuildContext) -> nn.Module:
    return make_conv(shape[0], _out_channels(options, context), options["kernel"], options,
                     stride=options.get("stride", 1), padding=_padding(options))


def _conv_label(options: Options) -> str:
    stride = options.get("stride", 1)
    scale = "" if stride == 1 else f" ×{stride}" if options["type"] == "conv_transpose" else f" /{stride}"
    return f"{options['type']} {options['kernel']}×{options['kernel']}{scale}"


_KERNEL_STRIDE_PADDING = {
    "kernel": Option(POSITIVE_INT, "kernel size (square)", 3),
    "stride": Option(POSITIVE_INT, "stride", 1),
    "padding": Option(
        {"anyOf": [NON_NEGATIVE_INT, {"const": "same"}]},
        "zero padding on each side, or 'same' (kernel // 2, odd kernels only)",
        "same",
    ),
}

register(
    LayerType(
        name="conv",
        family="conv",
        doc="2-D convolution; input channels come from the layer before.",
        options={"channels": Option(POSITIVE_INT, "output channels")}
        | _KERNEL_STRIDE_PADDING
        | _common_options(activation="linear", gain=SQRT2),
        output_shape=_conv_shape,
        build=_build_conv,
        example={"type": "conv", "channels": 512, "kernel": 3, "activation": "lrelu", "equalized_lr": True},
        label=_conv_label,
    )
)

register(
    LayerType(
        name="to_rgb",
        family="rgb",
        doc="Generator output head of a stage: a convolution to the image channels (ProGAN: 1×1, gain 1, linear).",
        options={"kernel": Option(POSITIVE_INT, "kernel size (square)", 1),
                 "padding": _KERNEL_STRIDE_PADDING["padding"]}
        | _common_options(activation="linear", gain=1.0),
        output_shape=_conv_shape,
        build=_build_conv,
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
        options={"channels": Option({"anyOf": [POSITIVE_INT, {"type": "null"}]},
                                    "output channels; null or left out: inferred (see above)", None),
                 "kernel": Option(POSITIVE_INT, "kernel size (square)", 1),
                 "padding": _KERNEL_STRIDE_PADDING["padding"]}
        | _common_options(activation="linear", gain=SQRT2),
        output_shape=_conv_shape,
        build=_build_conv,
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


def _build_conv_transpose(options: Options, shape: Shape, context: BuildContext) -> nn.Module:
    return make_conv(shape[0], options["channels"], options["kernel"], options, stride=options["stride"],
                     padding=options["padding"], transpose=True, output_padding=options["output_padding"])


register(
    LayerType(
        name="conv_transpose",
        family="conv",
        doc="2-D transposed convolution (e.g. 4×4 from a 1×1 latent, or ×2 upsampling with stride 2).",
        options={
            "channels": Option(POSITIVE_INT, "output channels"),
            "kernel": Option(POSITIVE_INT, "kernel size (square)", 4),
            "stride": Option(POSITIVE_INT, "stride (the upsampling factor)", 1),
            "padding": Option(NON_NEGATIVE_INT, "implicit zero padding removed from each side", 0),
            "output_padding": Option(NON_NEGATIVE_INT, "extra rows/columns added to one side of the output", 0),
        }
        | _common_options(activation="linear", gain=SQRT2),
        output_shape=_conv_transpose_shape,
        build=_build_conv_transpose,
        example={"type": "conv_transpose", "channels": 256, "kernel": 4, "stride": 2, "padding": 1},
        label=_conv_label,
    )
)


# ---------------------------------------------------------------------------------------- dense


def _dense_shape(options: Options, shape: Shape, context: BuildContext) -> Shape:
    reshape = options["reshape"]
    return (options["channels"], *reshape) if reshape else (options["channels"],)


def _build_dense(options: Options, shape: Shape, context: BuildContext) -> nn.Module:
    in_features = math.prod(shape)
    output_shape = _dense_shape(options, shape, context)
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
            "channels": Option(POSITIVE_INT, "output features (output channels when reshaped)"),
            "reshape": Option(
                {"anyOf": [{"type": "array", "items": POSITIVE_INT, "minItems": 2, "maxItems": 2}, {"type": "null"}]},
                "[height, width] of the output map, or null for a flat vector",
                None,
            ),
        }
        | _common_options(activation="linear", gain=SQRT2),
        output_shape=_dense_shape,
        build=_build_dense,
        example={"type": "dense", "channels": 512, "reshape": [4, 4], "gain": 0.3535533905932738},
        label=_dense_label,
    )
)
