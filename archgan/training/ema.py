"""Exponential moving average of the generator (Karras et al. 2018: G smoothing, beta 0.999)."""
from __future__ import annotations

import copy

import torch
from torch import nn


def make_ema(network: nn.Module) -> nn.Module:
    """A frozen copy to average into; it starts equal to the network, as the official Gs."""
    ema = copy.deepcopy(network).eval()
    ema.requires_grad_(False)
    return ema


def ema_decay(beta: float, step: int, warmup: bool) -> float:
    """The decay for update number `step` (0-based): `beta`, or with warm-up min(beta, (1+t)/(10+t))."""
    return min(beta, (1 + step) / (10 + step)) if warmup else beta


def half_life_decay(batch_size: int, half_life_kimg: float) -> float:
    """The decay per step of `batch_size` images that halves an image's weight after `half_life_kimg`
    thousand images (StyleGAN's G_smoothing_kimg), whatever the batch."""
    return 0.5 ** (batch_size / (1000 * half_life_kimg))


@torch.no_grad()
def update_ema(ema: nn.Module, network: nn.Module, beta: float) -> None:
    """ema ← beta·ema + (1 − beta)·network for parameters; buffers (batch-norm statistics,
    spectral-norm vectors) are copied."""
    torch._foreach_lerp_(list(ema.parameters()), list(network.parameters()), 1 - beta)
    for ema_buffer, buffer in zip(ema.buffers(), network.buffers()):
        ema_buffer.copy_(buffer)
