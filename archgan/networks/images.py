"""What a network makes or reads: one image batch, or one per stage (a spec's `images: all`, MSG-GAN),
and the few operations the trainer, the losses and sampling apply to either alike."""
from __future__ import annotations

from typing import Callable

import torch

from .fade import downsample_real_images

Images = torch.Tensor | list[torch.Tensor]
"""One image batch [N, C, R, R], or one per stage, lowest resolution first."""


def final_image(images: Images) -> torch.Tensor:
    """The largest image batch: what samples, metrics and `generate` show."""
    return images[-1] if isinstance(images, list) else images


def each_image(images: Images, function: Callable[[torch.Tensor], torch.Tensor]) -> Images:
    """`function` applied to the image batch, or to every one of a list."""
    return [function(image) for image in images] if isinstance(images, list) else function(images)


def image_list(images: Images) -> list[torch.Tensor]:
    return images if isinstance(images, list) else [images]


def batch_size(images: Images) -> int:
    return len(image_list(images)[0])


def real_pyramid(images: torch.Tensor, count: int) -> list[torch.Tensor]:
    """Real images for a discriminator that reads one per stage: the batch average-pooled to each of the
    `count` stages' sizes (the dataset's convention at every stage), lowest resolution first."""
    return [downsample_real_images(images, 2 ** level) if level else images for level in reversed(range(count))]
