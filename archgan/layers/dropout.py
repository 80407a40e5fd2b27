"""Dropout, for architectures that use it (attn_gan_pytorch's configs may)."""
from __future__ import annotations

from torch import nn

from .activations import same_shape
from .registry import LayerType, Option, register

register(
    LayerType(
        name="dropout",
        family="regularization",
        doc="Dropout while training: zero each value (or, with spatial, each whole channel) with probability p.",
        options={
            "p": Option({"type": "number", "minimum": 0, "exclusiveMaximum": 1}, "probability of dropping", 0.5),
            "spatial": Option({"type": "boolean"}, "drop whole channels of a map (Dropout2d)", False),
        },
        output_shape=same_shape,
        build=lambda o, shape, context: (nn.Dropout2d if o["spatial"] and len(shape) == 3 else nn.Dropout)(o["p"]),
        example={"type": "dropout", "p": 0.2},
        label=lambda o: f"dropout {o['p']:g}",
    )
)
