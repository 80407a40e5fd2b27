"""The fade-in of progressive growing, written once (Karras et al. 2018, section 3).

While stage k fades in, the generator makes lerp(up(to_rgb[k-1](h[k-1])), to_rgb[k](h[k]), alpha) and
the discriminator reads lerp(from_rgb[k-1](down(x)), stage[k](from_rgb[k](x)), alpha); the real images
are faded the same way, lerp(up(down(x)), x, alpha), so that D sees the mix G produces. `up` and `down`
are the spec's `fade_resample` (nearest and average pooling by default, as ProGAN), through the same
functions as the upsample and downsample layers.
"""
from __future__ import annotations

import torch

from ..layers.modules.resample import downsample, upsample

Alpha = float | torch.Tensor


def fade_in(old: torch.Tensor, new: torch.Tensor, alpha: Alpha) -> torch.Tensor:
    """old + alpha·(new − old): alpha 0 is the old path, 1 the new stage. Under bf16 autocast the two paths
    may differ in dtype (a convolution's bf16 against an attention's float32): both go to the wider one."""
    dtype = torch.promote_types(old.dtype, new.dtype)
    weight = alpha.to(dtype) if isinstance(alpha, torch.Tensor) else alpha
    return torch.lerp(old.to(dtype), new.to(dtype), weight)


def is_fading(depth: int, alpha: Alpha) -> bool:
    """Whether the old path must be computed: not for the first stage, nor for a Python alpha of 1
    (a stable stage costs nothing extra). A tensor alpha always blends, so a compiled step never
    branches on its value."""
    return depth > 1 and not (isinstance(alpha, (int, float)) and alpha == 1)


def upsample_old_image(image: torch.Tensor, mode: str) -> torch.Tensor:
    """The generator's old path: the previous stage's image at the new stage's size."""
    return upsample(image, 2, mode)


def downsample_for_old_path(images: torch.Tensor, mode: str) -> torch.Tensor:
    """The discriminator's old path: the input image at the previous stage's size."""
    return downsample(images, 2, mode)


def downsample_real_images(images: torch.Tensor, factor: int) -> torch.Tensor:
    """Real images at a lower stage: the dataset average-pooled (ProGAN's convention at every stage)."""
    return downsample(images, factor, "average")


def fade_real_images(images: torch.Tensor, alpha: Alpha, generator_mode: str) -> torch.Tensor:
    """Real images as the generator makes them while fading in: their half-size version brought back up
    the way the generator's old path upsamples, blended with the images themselves."""
    return fade_in(upsample_old_image(downsample_real_images(images, 2), generator_mode), images, alpha)
