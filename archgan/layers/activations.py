"""Activation layers, usable on their own or as the `activation` option of weighted layers
(their modules: modules/activations.py). Each takes StyleGAN2's `gain` and `clamp` (its bias_act): lrelu
with gain √2 keeps the variance of its input, and the clamp bounds the activations so fp16 cannot overflow."""
from __future__ import annotations

import math
from typing import Any, Callable

from ..lazy import deferred
from .registry import LayerType, Option, Options, layer_type, no_parameters, register, same_shape

ACTIVATION_FAMILY = "activation"

GAIN_OPTIONS = {
    "gain": Option({"type": "number", "exclusiveMinimum": 0},
                   "the output is multiplied by this (StyleGAN2's lrelu and relu: √2 = 1.4142135623730951)", 1.0),
    "clamp": Option({"anyOf": [{"type": "number", "exclusiveMinimum": 0}, {"type": "null"}]},
                    "the output, after the gain, is clamped to [-clamp, clamp] (StyleGAN2's conv_clamp: 256 where "
                    "it is used); null: not clamped", None),
}


def _gain_label(options: Options) -> str:
    """'×√2 clamp 362.039' for the options that are not the defaults, '' when both are."""
    gain, clamp = options["gain"], options["clamp"]
    text = "" if gain == 1 else "×√2" if gain == math.sqrt(2) else f"×{gain:g}"
    return text + ("" if clamp is None else f" clamp {clamp:g}")


def _register_activation(name: str, doc: str, options: dict[str, Option] | None = None,
                         label: Callable[[Options], str] | None = None) -> None:
    base = label or (lambda o: name)
    register(
        LayerType(
            name=name,
            family=ACTIVATION_FAMILY,
            doc=doc,
            options=(options or {}) | GAIN_OPTIONS,
            output_shape=same_shape,
            build=deferred(f"archgan.layers.modules.activations:{name}"),
            parameters=no_parameters,
            example={"type": name},
            label=lambda o: base(o) + _gain_label(o),
        )
    )


_register_activation(
    "lrelu",
    "Leaky ReLU, max(x, slope·x); ProGAN uses slope 0.2 everywhere, StyleGAN2 the same with gain √2.",
    {"slope": Option({"type": "number", "minimum": 0}, "slope for negative inputs", 0.2)},
    label=lambda o: f"lrelu({o['slope']:g})",
)
_register_activation("relu", "ReLU, max(x, 0).")
_register_activation("tanh", "Hyperbolic tangent; squashes generator output into [-1, 1].")
_register_activation("linear", "Identity; states explicitly that no activation follows (or, with `clamp`, only a "
                     "clamp: StyleGAN2's ToRGB).")


# ------------------------------------------------------------- the `activation` option of other layers

ACTIVATION_SCHEMA = {"$ref": "#/$defs/activation"}
"""Resolved by the schema builder to 'an activation name or an activation entry'."""


def normalize_activation(value: str | dict[str, Any]) -> dict[str, Any]:
    """'lrelu' or {type: lrelu} -> {type: lrelu, slope: 0.2, gain: 1.0, clamp: null}: the explicit form saved
    in checkpoints."""
    entry = {"type": value} if isinstance(value, str) else dict(value)
    return {"type": entry["type"], **layer_type(entry["type"]).defaults(), **entry}


def activation_option(default: str) -> Option:
    return Option(
        ACTIVATION_SCHEMA,
        "activation applied after the bias: the name of an activation layer (e.g. lrelu) "
        "or an activation entry such as {type: lrelu, slope: 0.1}",
        default,
        normalize=normalize_activation,
    )


def activation_label(entry: Options) -> str:
    return layer_type(entry["type"]).label(entry)
