"""Computing the registered metrics (archgan/metrics/__init__.py): the per-metric functions the
registry names, and the uint8 image sets they compare (generated samples, pooled real images)."""
from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np
import torch
import torch.nn.functional as F

from ..networks.images import final_image
from . import METRICS, Values, check_resolution
from .fid import fid_kid, inception_weights
from .ms_ssim import ms_ssim_pairs
from .swd import swd


def swd_values(real: torch.Tensor, fake: torch.Tensor, options: Mapping[str, Any]) -> Values:
    return swd(real.to(options["device"]), fake.to(options["device"]), seed=options["seed"]).as_dict()


def msssim_values(real: torch.Tensor, fake: torch.Tensor, options: Mapping[str, Any]) -> Values:
    return {"msssim/fake": ms_ssim_pairs(fake), "msssim/real": ms_ssim_pairs(real)}


def fid_values(real: torch.Tensor, fake: torch.Tensor, options: Mapping[str, Any]) -> Values:
    return fid_kid(real, fake, options.get("inception_weights"), options["device"])


def fid_prepare(options: Mapping[str, Any]) -> None:
    inception_weights(options.get("inception_weights"))  # a missing file stops a run before it starts


def compute(names: list[str], real: torch.Tensor, fake: torch.Tensor, **options: Any) -> Values:
    """Every named metric between uint8 real and fake sets of one resolution."""
    options = {"device": "cpu", "seed": 0} | options
    check_resolution(names, real.shape[-1])
    values: Values = {}
    for name in names:
        values |= METRICS[name].compute(real, fake, options)
    return values


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Network output in [-1, 1] as the official code quantizes it: x·127.5 + 127.5, rounded, clipped."""
    return (images * 127.5 + 127.5).round().clamp(0, 255).to(torch.uint8)


@torch.no_grad()
def generate_uint8(generator, count: int, depth: int, alpha: float, device, seed: int = 0, batch: int = 64,
                   labels: torch.Tensor | None = None) -> torch.Tensor:
    """`count` samples of `generator` at a stage, as uint8 on the CPU. A class-conditional generator makes
    them for `labels` (e.g. those of the real images they are compared with), else for classes drawn
    uniformly."""
    noise = torch.Generator().manual_seed(seed)
    if generator.spec.classes and labels is None:
        labels = torch.randint(generator.spec.classes, (count,), generator=noise)
    chunks = []
    for start in range(0, count, batch):
        z = torch.randn(min(batch, count - start), generator.latent_size, generator=noise).to(device)
        inputs = {} if labels is None else {"label": labels[start:start + len(z)].to(device)}
        chunks.append(to_uint8(final_image(generator(z, depth, alpha, **inputs))).cpu())
    return torch.cat(chunks)


def sample_indices(total: int, count: int, seed: int = 0) -> np.ndarray:
    """A fixed random choice of `count` of `total` images, in order: the reals a metric reads."""
    return torch.randperm(total, generator=torch.Generator().manual_seed(seed))[:count].sort().values.numpy()


def reals_uint8(images: np.ndarray, resolution: int, count: int, seed: int = 0) -> torch.Tensor:
    """`count` real images (sample_indices' choice) box-averaged to `resolution`, rounded to uint8 as the
    official dataset stores every level."""
    batch = torch.from_numpy(np.asarray(images[sample_indices(len(images), count, seed)])).float()
    factor = batch.shape[-1] // resolution
    if factor > 1:
        batch = F.avg_pool2d(batch, factor)
    return batch.round().clamp(0, 255).to(torch.uint8)


def format_table(values: dict[str, float]) -> str:
    width = max(len(k) for k in values)
    return "\n".join(f"{name:<{width}}  {value:10.4f}" if math.isfinite(value) else f"{name:<{width}}  {value}"
                     for name, value in values.items())
