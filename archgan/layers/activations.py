"""Activation layers, usable on their own or as the `activation` option of weighted layers
(their modules: modules/activations.py)."""
from __future__ import annotations

from typing import Any

from ..lazy import deferred
from .registry import LayerType, Option, Options, layer_type, no_parameters, register, same_shape

ACTIVATION_FAMILY = "activation"


def _register_activation(name: str, doc: str, options: dict[str, Option] | None = None, label=None) -> None:
    register(
        LayerType(
            name=name,
            family=ACTIVATION_FAMILY,
            doc=doc,
            options=options or {},
            output_shape=same_shape,
            build=deferred(f"archgan.layers.modules.activations:{name}"),
            parameters=no_parameters,
            example={"type": name},
            label=label or (lambda o: name),
        )
    )


_register_activation(
    "lrelu",
    "Leaky ReLU, max(x, slope·x); ProGAN uses slope 0.2 everywhere.",
    {"slope": Option({"type": "number", "minimum": 0}, "slope for negative inputs", 0.2)},
    label=lambda o: f"lrelu({o['slope']:g})",
)
_register_activation("relu", "ReLU, max(x, 0).")
_register_activation("tanh", "Hyperbolic tangent; squashes generator output into [-1, 1].")
_register_activation("linear", "Identity; states explicitly that no activation follows.")


# ------------------------------------------------------------- the `activation` option of other layers

ACTIVATION_SCHEMA = {"$ref": "#/$defs/activation"}
"""Resolved by the schema builder to 'an activation name or an activation entry'."""


def normalize_activation(value: str | dict[str, Any]) -> dict[str, Any]:
    """'lrelu' or {type: lrelu} -> {type: lrelu, slope: 0.2}: the explicit form saved in checkpoints."""
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
