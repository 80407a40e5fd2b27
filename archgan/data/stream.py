"""Real images for each training step, made on the device.

The uint8 cache moves to the device once (when it fits; otherwise batches are gathered on the host
and copied asynchronously). Each batch is drawn in shuffled epochs, mirrored, average-pooled to the
stage's resolution and, while a stage fades in, faded as the official ProGAN fades the real images
(networks/fade.py: so D sees the mix G produces, resampled as the generator's spec resamples).
"""
from __future__ import annotations

import numpy as np
import torch

from ..errors import DatasetError
from ..networks.fade import downsample_real_images, fade_real_images
from ..spec.model import FADE_RESAMPLE

DEVICE_FRACTION = 0.25
"""Keep the dataset on the GPU when it takes at most this share of the free memory."""


class RealImages:
    def __init__(self, images: np.ndarray, device: torch.device, seed: int, mirror: bool,
                 fade_resample: str = FADE_RESAMPLE["generator"][0], labels: np.ndarray | None = None):
        """`fade_resample`: how the generator's old path upsamples while a stage fades in (its spec's);
        `labels`: the class of each image, for class-conditional networks."""
        self.on_device = device.type == "cpu" or (
            device.type == "cuda" and images.nbytes <= DEVICE_FRACTION * torch.cuda.mem_get_info(device)[0]
        )
        # on the device: one copy of everything; on the host: the (memory-mapped) array, gathered per batch
        self.images = torch.from_numpy(np.array(images)).to(device) if self.on_device else images
        self.labels = None if labels is None else torch.from_numpy(np.asarray(labels, dtype=np.int64)).to(device)
        self.count = len(images)
        self.device = device
        self.mirror = mirror
        self.fade_resample = fade_resample
        self.resolution = images.shape[-1]
        self.order_generator = torch.Generator().manual_seed(seed)
        self.flip_generator = torch.Generator(device=device).manual_seed(seed + 1)
        self.order = torch.randperm(self.count, generator=self.order_generator)
        self.cursor = 0

    def __len__(self) -> int:
        return self.count

    def _indices(self, count: int) -> torch.Tensor:
        """The next `count` indices of the shuffled epochs (a batch may span two epochs)."""
        taken = []
        while count:
            if self.cursor == len(self.order):
                self.order = torch.randperm(len(self.order), generator=self.order_generator)
                self.cursor = 0
            part = self.order[self.cursor : self.cursor + count]
            self.cursor += len(part)
            count -= len(part)
            taken.append(part)
        return torch.cat(taken)

    def next(self, batch_size: int, resolution: int, alpha: float,
             rows: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """A batch in [-1, 1] at `resolution`, faded as stage weight `alpha` says, and its labels (None for
        an unlabelled dataset). With several processes `rows` picks this process's share of the global
        batch of `batch_size`: every process draws the same indices and flips, so the shares add up to
        what one process would see."""
        indices = self._indices(batch_size)
        flips = torch.rand(batch_size, device=self.device, generator=self.flip_generator) < 0.5 if self.mirror else None
        if rows is not None:
            indices = indices[rows]
            flips = flips[rows.to(self.device)] if flips is not None else None
        if self.on_device:
            batch = self.images[indices.to(self.device)]
        else:
            batch = torch.from_numpy(self.images[indices.numpy()]).pin_memory().to(self.device, non_blocking=True)
        x = batch.float().mul_(2 / 255).sub_(1)
        if flips is not None:
            x = torch.where(flips.view(-1, 1, 1, 1), x.flip(3), x)
        if resolution != self.resolution:
            x = downsample_real_images(x, self.resolution // resolution)
        if alpha < 1:
            x = fade_real_images(x, alpha, self.fade_resample)
        return x, None if self.labels is None else self.labels[indices.to(self.device)]

    def state_dict(self) -> dict[str, torch.Tensor | int]:
        return {
            "order": self.order.clone(),
            "cursor": self.cursor,
            "order_generator": self.order_generator.get_state(),
            "flip_generator": self.flip_generator.get_state(),
        }

    def load_state_dict(self, state: dict) -> None:
        """Continue the saved epochs; they must be of this dataset's size (see training.hooks.RunFolder)."""
        if len(state["order"]) != self.count:
            raise DatasetError(
                f"its data order covers {len(state['order'])} images, but the image folder gives {self.count} now; "
                "a resumed run trains on the images it started with. Put the folder back as it was, or train on the "
                "new images in a new run from this one's weights (--generator_file/--discriminator_file)")
        self.order = state["order"].clone()
        self.cursor = int(state["cursor"])
        self.order_generator.set_state(state["order_generator"])
        self.flip_generator.set_state(state["flip_generator"])
