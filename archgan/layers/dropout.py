"""Dropout, for architectures that use it (attn_gan_pytorch's configs may); its module: modules/dropout.py."""
from __future__ import annotations

from ..lazy import deferred
from .registry import LayerType, Option, no_parameters, register, same_shape

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
        build=deferred("archgan.layers.modules.dropout:build"),
        parameters=no_parameters,
        example={"type": "dropout", "p": 0.2},
        label=lambda o: f"dropout {o['p']:g}",
    )
)
