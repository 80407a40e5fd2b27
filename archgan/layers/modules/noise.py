"""The noise-injection module and the draws it reads (set by archgan/networks/randomness.py)."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..registry import BuildContext, Options, Shape


@dataclass(frozen=True)
class Draws:
    """Where a forward pass's random layers draw from: the step's generator and, when the pass computes only
    some `rows` of a global batch of `batch` samples (several processes, micro-batches), those rows of a
    draw for the whole batch, so that any split draws what the whole batch would."""

    generator: torch.Generator
    rows: torch.Tensor | None = None
    batch: int | None = None

    def normal(self, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
        if self.rows is None:
            return torch.randn(shape, device=like.device, dtype=like.dtype, generator=self.generator)
        full = torch.randn((self.batch, *shape[1:]), device=like.device, dtype=like.dtype, generator=self.generator)
        return full[self.rows.to(like.device)]


class RandomLayer(nn.Module):
    """A layer that draws random numbers while it runs; `draws` is set for the duration of a training step's
    forward pass (networks/randomness.py). Without it (sampling, a user's own loop) the draws come from
    torch's global generator, which torch.manual_seed seeds."""

    draws: Draws | None = None

    def normal(self, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
        if self.draws is None:
            return torch.randn(shape, device=like.device, dtype=like.dtype)
        return self.draws.normal(shape, like)


class NoiseInjection(RandomLayer):
    """x + strength · noise with noise [N, 1, H, W]: random per call, or a fixed buffer; strength [C] (one per
    channel) or [] (one scalar, shaped as StyleGAN2's noise_strength)."""

    def __init__(self, shape: Shape, mode: str, strength: str):
        super().__init__()
        channels, height, width = shape
        self.mode = mode
        self.strength = nn.Parameter(torch.zeros(channels if strength == "channel" else ()))
        if mode == "fixed":
            self.register_buffer("fixed_noise", torch.randn(1, 1, height, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "fixed":
            noise = self.fixed_noise.to(x.dtype)
        else:
            noise = self.normal((x.shape[0], 1, *x.shape[2:]), x)
        return x + self.strength.view(1, -1, 1, 1).to(x.dtype) * noise

    def extra_repr(self) -> str:
        return f"mode={self.mode}"


def build(options: Options, shape: Shape, context: BuildContext) -> nn.Module:
    return NoiseInjection(shape, options["mode"], options["strength"])
