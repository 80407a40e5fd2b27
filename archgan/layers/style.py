"""Layers that read the generator's style w, the output of its mapping network (the file's `mapping:`):
StyleGAN's style modulation and StyleGAN2's modulated convolution (their modules: modules/style.py). Each such
layer reads a style of its own, counted in the order the network runs them: w itself for all of them, another
latent's w from a crossover on (style mixing), or w pulled toward its average (truncation, at sampling)."""
from __future__ import annotations

from ..lazy import deferred
from .conv import conv_arguments, conv_output_size, conv_parameters, weight_options
from .registry import (
    NON_NEGATIVE_SIZE,
    POSITIVE_SIZE,
    BuildContext,
    LayerType,
    Option,
    Options,
    Shape,
    ShapeError,
    channels_option,
    feature_map,
    register,
)

STYLE = ("style",)
MAPPING_EXAMPLE = ("mapping: [{type: pixelnorm}, {type: dense, channels: 512, lr_multiplier: 0.01, equalized_lr: true, "
                   "activation: lrelu, repeat: 8}]")


def style_size(context: BuildContext, layer: str) -> int:
    """The length of w; a layer reading it in a network without a mapping network is told how to add one."""
    if context.style_size is None:
        raise ShapeError(f"{layer} reads the style w, which a generator's mapping network makes; this network has "
                         f"none: declare one at the top of the generator file, e.g. `{MAPPING_EXAMPLE}`")
    return context.style_size


def _modulation_shape(options: Options, shape: Shape, context: BuildContext) -> Shape:
    style_size(context, "style_modulation")
    return shape


def _modulation_parameters(options: Options, shape: Shape, context: BuildContext) -> int:
    """The dense layer from w to a scale and a shift per channel."""
    return context.style_size * 2 * shape[0] + (2 * shape[0] if options["bias"] else 0)


register(
    LayerType(
        name="style_modulation",
        family="style",
        doc="StyleGAN's style: x·(1 + s) + b per channel, s and b from a dense layer on this layer's style w "
        "(gain 1, the bias starting at 0, so that it starts as the identity); after an instancenorm this is "
        "AdaIN (Huang & Belongie 2017), StyleGAN's style_mod.",
        options={name: option for name, option in weight_options(activation="linear", gain=1.0).items()
                 if name != "activation"},
        output_shape=_modulation_shape,
        build=deferred("archgan.layers.modules.style:build_style_modulation"),
        parameters=_modulation_parameters,
        example={"type": "style_modulation", "equalized_lr": True},
        label=lambda o: "style",
        reads=STYLE,
    )
)


# ------------------------------------------------------------------------------- modulated_conv


def _modulated_shape(options: Options, shape: Shape, context: BuildContext) -> Shape:
    style_size(context, "modulated_conv")
    _, height, width = feature_map(shape, "modulated_conv")
    kernel, _, padding = conv_arguments(options)
    up = options["up"]
    out = [conv_output_size(size * up, kernel, 1, padding, transpose=False) for size in (height, width)]
    if min(out) < 1:
        raise ShapeError(f"a {kernel}×{kernel} kernel with padding {padding} does not fit a "
                         f"{height * up}×{width * up} input; use a smaller kernel or padding 'same'")
    return (options["channels"], out[0], out[1])


def _modulated_parameters(options: Options, shape: Shape, context: BuildContext) -> int:
    """The affine layer from w to a scale per input channel (weights and biases), and the convolution's weight."""
    return context.style_size * shape[0] + shape[0] + conv_parameters(shape[0], options["channels"], options["kernel"],
                                                                      bias=False)


def _modulated_inner_values(options: Options, shape: Shape, context: BuildContext) -> int:
    """Each sample's own weights, before and after the demodulation, and with up 2 the padded map the filter reads."""
    weights = shape[0] * options["channels"] * options["kernel"] ** 2 * (2 if options["demodulate"] else 1)
    if options["up"] == 1:
        return weights
    channels, height, width = _modulated_shape(options, shape, context)
    return weights + channels * (height + 3) * (width + 3)


register(
    LayerType(
        name="modulated_conv",
        family="style",
        doc="StyleGAN2's modulated convolution (its SynthesisLayer and ToRGBLayer): a dense layer on this layer's "
        "style w (equalized, the bias starting at 1) gives a scale per input channel, which multiplies each "
        "sample's copy of the N(0, 1) weight; `demodulate` then divides each output channel's weights by their "
        "norm, else the scales are multiplied by 1/sqrt(fan_in) (ToRGB). One grouped convolution runs every "
        "sample with its own weights. No bias: StyleGAN2 adds the noise, then a `bias` layer with the activation "
        "(lrelu, gain √2).",
        options={
            "channels": channels_option(),
            "kernel": Option(POSITIVE_SIZE, "kernel size (square)", 3),
            "demodulate": Option({"type": "boolean"}, "divide each output channel's modulated weights by their norm "
                                 "(StyleGAN2's convolutions; its ToRGB does not)", True),
            "up": Option({"enum": [1, 2]}, "2: upsample ×2 as StyleGAN2: a transposed convolution of stride 2, then "
                         "the [1, 3, 3, 1] filter normalized to sum 4 (the kernel then acts mirrored compared with "
                         "up 1, as StyleGAN2's does, so its weights carry over unchanged)", 1),
            "padding": Option({"anyOf": [NON_NEGATIVE_SIZE, {"const": "same"}]},
                              "zero padding on each side (of the upsampled map with up 2), or 'same' (kernel // 2, "
                              "odd kernels only)", "same"),
        },
        output_shape=_modulated_shape,
        build=deferred("archgan.layers.modules.style:build_modulated_conv"),
        parameters=_modulated_parameters,
        example={"type": "modulated_conv", "channels": 512, "kernel": 3, "up": 2},
        label=lambda o: f"modconv {o['kernel']}×{o['kernel']}" + (" ×2" if o["up"] == 2 else "")
        + ("" if o["demodulate"] else " no demod"),
        inner_values=_modulated_inner_values,
        reads=STYLE,
    )
)
