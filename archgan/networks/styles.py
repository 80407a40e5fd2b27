"""The styles of a style-based generator (StyleGAN): its mapping network's w, one copy per style layer,
and what training and sampling do to them. Style mixing (training) gives the layers from a crossover on
the w of a second latent; truncation (sampling) pulls w toward its tracked average for the first layers.
The Generator applies both (networks/growable.py); the training step updates the average."""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Truncation:
    """w ← w_avg + psi·(w − w_avg) in the style layers before `cutoff` (all of them when None): psi 1 is
    no truncation, 0 the average image; StyleGAN samples with psi 0.7 and cutoff 8 (its 4² to 32² layers)."""

    psi: float
    cutoff: int | None = None


@dataclass(frozen=True)
class StyleMixing:
    """The style layers from `cutoff` on read the w of `latents` (one second latent per sample) instead
    (StyleGAN's mixing regularization); `cutoff` is a 0-d integer tensor, so drawing it never waits for
    the device."""

    latents: torch.Tensor
    cutoff: torch.Tensor | int


def layer_numbers(count: int, device: torch.device) -> torch.Tensor:
    """0 … count − 1 shaped [1, count, 1], to compare with a cutoff per style layer."""
    return torch.arange(count, device=device).view(1, count, 1)


def mix(styles: torch.Tensor, other: torch.Tensor, cutoff: torch.Tensor | int) -> torch.Tensor:
    """styles [N, L, w] with the layers from `cutoff` on taken from other [N, w]."""
    return torch.where(layer_numbers(styles.shape[1], styles.device) < cutoff, styles, other.unsqueeze(1))


def truncate(styles: torch.Tensor, w_avg: torch.Tensor, truncation: Truncation) -> torch.Tensor:
    """styles [N, L, w] pulled toward w_avg [w] as `truncation` says."""
    cutoff = styles.shape[1] if truncation.cutoff is None else truncation.cutoff
    psi = torch.where(layer_numbers(styles.shape[1], styles.device) < cutoff, truncation.psi, 1.0).to(styles.dtype)
    return w_avg.to(styles.dtype) + psi * (styles - w_avg.to(styles.dtype))


@torch.no_grad()
def track_average(w_avg: torch.Tensor, batch_mean: torch.Tensor, beta: float) -> None:
    """w_avg ← beta·w_avg + (1 − beta)·(the batch's mean w), StyleGAN's dlatent_avg (beta 0.995)."""
    w_avg.lerp_(batch_mean.to(w_avg.dtype), 1 - beta)
