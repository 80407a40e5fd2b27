"""Noise injection (StyleGAN): x + strength · noise, one noise map per sample shared by the channels, the
strength learned per channel (StyleGAN) or as one scalar (StyleGAN2); its module: modules/noise.py. Random
noise is drawn from the generator the training step hands the network (archgan/networks/randomness.py), so
any number of processes draws what one would and resume is exact."""
from __future__ import annotations

from ..lazy import deferred
from .registry import LayerType, Option, feature_map, register

register(
    LayerType(
        name="noise",
        family="noise",
        doc="Add per-pixel Gaussian noise scaled by a learned strength (starting at zero): one per channel "
        "(StyleGAN) or one for all (StyleGAN2's noise_strength). random: a fresh map per sample and call, from "
        "the training step's generator; fixed: one map drawn when the network is built and saved with its "
        "weights (StyleGAN's const noise).",
        options={"mode": Option({"enum": ["random", "fixed"]}, "a new draw per call, or one saved map", "random"),
                 "strength": Option({"enum": ["channel", "single"]},
                                    "one learned strength per channel, or a single one for all channels", "channel")},
        output_shape=lambda options, shape, context: feature_map(shape, "noise"),
        build=deferred("archgan.layers.modules.noise:build"),
        parameters=lambda options, shape, context: shape[0] if options["strength"] == "channel" else 1,
        example={"type": "noise", "mode": "random", "strength": "single"},
        label=lambda o: f"noise {o['mode']}" + (" single" if o["strength"] == "single" else ""),
    )
)
