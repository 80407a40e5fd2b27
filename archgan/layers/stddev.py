"""Minibatch standard deviation (Karras et al. 2018, section 3); its module: modules/stddev.py."""
from __future__ import annotations

from ..lazy import deferred
from .registry import (WIDTH, BuildContext, LayerType, Option, Options, Shape, ShapeError, feature_map, no_parameters,
                       register)


def _stddev_shape(options: Options, shape: Shape, context: BuildContext) -> Shape:
    channels, height, width = feature_map(shape, "minibatch_stddev")
    if channels % options["num_features"]:
        raise ShapeError(f"num_features ({options['num_features']}) must divide the {channels} input channels")
    return (channels + options["num_features"], height, width)


register(
    LayerType(
        name="minibatch_stddev",
        family="stddev",
        doc="Append the minibatch standard deviation as extra feature maps, so the discriminator "
        "sees the variation of a batch (ProGAN).",
        options={
            "group_size": Option(WIDTH, "samples per group (batch must divide)", 4),
            "num_features": Option(WIDTH, "feature maps appended", 1),
        },
        output_shape=_stddev_shape,
        build=deferred("archgan.layers.modules.stddev:build"),
        parameters=no_parameters,
        example={"type": "minibatch_stddev", "group_size": 4},
        label=lambda o: f"minibatch_stddev g{o['group_size']}",
        batch_group=lambda o: o["group_size"],
    )
)
