"""Offline quality measures: SWD (the ProGAN paper's), MS-SSIM diversity, and FID/KID from local
Inception weights. One registry, used by `archgan metrics` and by the trainer at the end of stages."""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import ArchganError
from ..spec.errors import did_you_mean
from .fid import fid_kid
from .ms_ssim import ms_ssim_pairs
from .swd import swd


class MetricError(ArchganError):
    """A metric cannot be computed as asked."""


def _swd(real: torch.Tensor, fake: torch.Tensor, options: dict) -> dict[str, float]:
    return swd(real.to(options["device"]), fake.to(options["device"]), seed=options["seed"]).as_dict()


def _msssim(real: torch.Tensor, fake: torch.Tensor, options: dict) -> dict[str, float]:
    return {"msssim/fake": ms_ssim_pairs(fake), "msssim/real": ms_ssim_pairs(real)}


def _fid(real: torch.Tensor, fake: torch.Tensor, options: dict) -> dict[str, float]:
    return fid_kid(real, fake, options.get("inception_weights"), options["device"])


METRICS: dict[str, Callable[[torch.Tensor, torch.Tensor, dict], dict[str, float]]] = {
    "swd": _swd,
    "msssim": _msssim,
    "fid": _fid,
}


def parse_metric_names(text: str | list[str]) -> list[str]:
    names = [n.strip() for n in (text.split(",") if isinstance(text, str) else text) if n.strip()]
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        hints = "; ".join(filter(None, (did_you_mean(n, METRICS) for n in unknown)))
        raise MetricError(f"unknown metric {', '.join(unknown)}: choose from {', '.join(METRICS)}" + (f" ({hints})" if hints else ""))
    return names


def compute(names: list[str], real: torch.Tensor, fake: torch.Tensor, **options) -> dict[str, float]:
    """Every named metric between uint8 real and fake sets of one resolution."""
    options = {"device": "cpu", "seed": 0} | options
    values: dict[str, float] = {}
    for name in names:
        values |= METRICS[name](real, fake, options)
    return values


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Network output in [-1, 1] as the official code quantizes it: x·127.5 + 127.5, rounded, clipped."""
    return (images * 127.5 + 127.5).round().clamp(0, 255).to(torch.uint8)


@torch.no_grad()
def generate_uint8(generator, count: int, depth: int, alpha: float, device, seed: int = 0, batch: int = 64) -> torch.Tensor:
    """`count` samples of `generator` at a stage, as uint8 on the CPU."""
    noise = torch.Generator().manual_seed(seed)
    chunks = []
    for start in range(0, count, batch):
        z = torch.randn(min(batch, count - start), generator.latent_size, generator=noise).to(device)
        chunks.append(to_uint8(generator(z, depth, alpha)).cpu())
    return torch.cat(chunks)


def reals_uint8(images: np.ndarray, resolution: int, count: int, seed: int = 0) -> torch.Tensor:
    """`count` real images (a fixed random choice) box-averaged to `resolution`, rounded to uint8 as the
    official dataset stores every level."""
    pick = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:count].sort().values
    batch = torch.from_numpy(np.asarray(images[pick.numpy()])).float()
    factor = batch.shape[-1] // resolution
    if factor > 1:
        batch = F.avg_pool2d(batch, factor)
    return batch.round().clamp(0, 255).to(torch.uint8)


def format_table(values: dict[str, float]) -> str:
    width = max(len(k) for k in values)
    return "\n".join(f"{name:<{width}}  {value:10.4f}" if math.isfinite(value) else f"{name:<{width}}  {value}"
                     for name, value in values.items())
