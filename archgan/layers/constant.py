"""A learned constant input (StyleGAN's 4×4 start: the synthesis network begins from learned values, not
from the latent); its module: modules/constant.py."""
from __future__ import annotations

from ..lazy import deferred
from .registry import POSITIVE_SIZE, LayerType, Option, channels_option, register

register(
    LayerType(
        name="constant",
        family="input",
        doc="A learned channels×size×size map, the same for every sample (StyleGAN's 4×4 start); it reads only "
        "the batch size of its input (the latent), so the latent enters through other layers.",
        options={"channels": channels_option("channels of the map"),
                 "size": Option(POSITIVE_SIZE, "height and width of the map", 4),
                 "init": Option({"enum": ["normal", "ones"]},
                                "its start: drawn from N(0, 1) (StyleGAN2) or all ones (StyleGAN)", "normal")},
        output_shape=lambda options, shape, context: (options["channels"], options["size"], options["size"]),
        build=deferred("archgan.layers.modules.constant:build"),
        parameters=lambda options, shape, context: options["channels"] * options["size"] ** 2,
        example={"type": "constant", "channels": 512, "size": 4},
        label=lambda o: f"constant {o['channels']}×{o['size']}×{o['size']}",
    )
)
