"""Normalization layers: pixelnorm (ProGAN), batchnorm, instancenorm and layernorm (their modules:
modules/norm.py)."""
from __future__ import annotations

import math

from ..lazy import deferred
from .registry import (
    BuildContext,
    LayerType,
    Option,
    Options,
    Shape,
    feature_map,
    no_parameters,
    register,
    same_shape,
)

VARIANCE_EPS = Option({"type": "number", "exclusiveMinimum": 0}, "added to the variance", 1e-5)


def per_channel_affine(options: Options, shape: Shape, context: BuildContext) -> int:
    """A learned scale and shift per channel, when `affine`."""
    return 2 * shape[0] if options["affine"] else 0


register(
    LayerType(
        name="pixelnorm",
        family="norm",
        doc="Pixelwise feature-vector normalization x / sqrt(mean over channels of x² + eps) (ProGAN).",
        options={
            "eps": Option({"type": "number", "exclusiveMinimum": 0}, "added under the square root", 1e-8),
            "scope": Option({"enum": ["pixel", "batch"]}, "pixel: over the channels of each pixel (ProGAN); "
                            "batch: over the whole tensor (the APGAN seed's code)", "pixel"),
        },
        output_shape=same_shape,
        build=deferred("archgan.layers.modules.norm:build_pixelnorm"),
        parameters=no_parameters,
        example={"type": "pixelnorm"},
    )
)

register(
    LayerType(
        name="batchnorm",
        family="norm",
        doc="Batch normalization over the channels of a map (or the features of a vector).",
        options={
            "eps": VARIANCE_EPS,
            "momentum": Option({"type": "number", "minimum": 0, "maximum": 1}, "running-statistics momentum", 0.1),
            "affine": Option({"type": "boolean"}, "learn a per-channel scale and shift", True),
            "init_std": Option({"type": "number", "minimum": 0, "maximum": 1},
                               "the scales start drawn from N(1, init_std) (DCGAN: 0.02); 0: all 1, as torch's", 0.0),
        },
        output_shape=same_shape,
        build=deferred("archgan.layers.modules.norm:build_batchnorm"),
        parameters=per_channel_affine,
        example={"type": "batchnorm"},
    )
)

register(
    LayerType(
        name="instancenorm",
        family="norm",
        doc="Instance normalization: each channel of each sample to zero mean and unit variance over its pixels "
        "(StyleGAN's AdaIN before the style is applied; style transfer).",
        options={
            "eps": VARIANCE_EPS,
            "affine": Option({"type": "boolean"}, "learn a per-channel scale and shift", False),
        },
        output_shape=lambda options, shape, context: feature_map(shape, "instancenorm"),
        build=deferred("archgan.layers.modules.norm:build_instancenorm"),
        parameters=per_channel_affine,
        example={"type": "instancenorm"},
    )
)

register(
    LayerType(
        name="layernorm",
        family="norm",
        doc="Layer normalization: each sample to zero mean and unit variance over all its values (channels and "
        "pixels); with affine, a learned scale and shift per value, as torch's LayerNorm.",
        options={
            "eps": VARIANCE_EPS,
            "affine": Option({"type": "boolean"}, "learn a scale and shift for every value of a sample", True),
        },
        output_shape=same_shape,
        build=deferred("archgan.layers.modules.norm:build_layernorm"),
        parameters=lambda o, shape, context: 2 * math.prod(shape) if o["affine"] else 0,
        example={"type": "layernorm"},
    )
)
