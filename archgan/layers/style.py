"""Layers that read the generator's style w, the output of its mapping network (the file's `mapping:`):
StyleGAN's style modulation (its module: modules/style.py). Each such layer reads a style of its own,
counted in the order the network runs them: w itself for all of them, another latent's w from a crossover
on (style mixing), or w pulled toward its average (truncation, at sampling)."""
from __future__ import annotations

from ..lazy import deferred
from .conv import weight_options
from .registry import BuildContext, LayerType, Options, Shape, ShapeError, register

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
