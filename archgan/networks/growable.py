"""Growable generator and discriminator: every stage is built up front; `depth` chooses how many run
and `alpha` fades the newest one in. Parameter names never change as the network grows, so one
checkpoint format serves every stage."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..layers import BuildContext
from ..spec.model import NetworkSpec, stage_key
from ..spec.validate import format_shape
from .build import build_layers

Alpha = float | torch.Tensor


def fade_in(old: torch.Tensor, new: torch.Tensor, alpha: Alpha) -> torch.Tensor:
    """The one fade-in of archgan: old + alpha·(new − old); alpha=0 is the old path, 1 the new stage."""
    return torch.lerp(old, new, alpha)


def is_fading(depth: int, alpha: Alpha) -> bool:
    """Whether the old path must be computed: not for the first stage, nor for a Python alpha of 1
    (a stable stage costs nothing extra). A tensor alpha always blends, so a compiled step never
    branches on its value."""
    return depth > 1 and not (isinstance(alpha, (int, float)) and alpha == 1)


class _Growable(nn.Module):
    def __init__(self, spec: NetworkSpec):
        super().__init__()
        self.spec = spec
        self.num_stages = len(spec.stages)
        self.default_depth = self.num_stages  # what `depth=None` means; load_generator(depth=...) sets it

    def _check_depth(self, depth: int | None) -> int:
        depth = self.default_depth if depth is None else depth
        if not 1 <= depth <= self.num_stages:
            raise ValueError(f"{self.spec.name}: depth must be between 1 and {self.num_stages}, got {depth}")
        return depth

    def stage(self, index: int) -> nn.Sequential:
        """The layers of stage `index` in the spec's order."""
        return self.stages[stage_key(self.spec.stages[index].resolution)]


class Generator(_Growable):
    """z [N, latent] -> images [N, C, R, R] with R the resolution of stage `depth`."""

    def __init__(self, spec: NetworkSpec):
        super().__init__(spec)
        if spec.role != "generator" or spec.latent_size is None:
            raise ValueError(f"{spec.name} is a {spec.role} spec, not a generator spec")
        context = BuildContext(spec.image_channels)
        shape = (spec.latent_size, 1, 1)
        self.stages = nn.ModuleDict()
        self.to_rgb = nn.ModuleDict()
        for stage in spec.stages:
            block, shape = build_layers(stage.layers, shape, context)
            self.stages[stage_key(stage.resolution)] = block
            self.to_rgb[stage_key(stage.resolution)] = build_layers(stage.rgb, shape, context)[0]

    @property
    def latent_size(self) -> int:
        return self.spec.latent_size  # type: ignore[return-value]

    def head(self, index: int) -> nn.Sequential:
        """The to_rgb layers of stage `index`."""
        return self.to_rgb[stage_key(self.spec.stages[index].resolution)]

    def resolution(self, depth: int | None = None) -> int:
        """Output image size when `depth` stages run."""
        return self.spec.stages[self._check_depth(depth) - 1].resolution

    def forward(self, z: torch.Tensor, depth: int | None = None, alpha: Alpha = 1.0) -> torch.Tensor:
        depth = self._check_depth(depth)
        if z.ndim != 2 or z.shape[1] != self.latent_size:
            raise ValueError(f"{self.spec.name}: expects latents of shape [N, {self.latent_size}], got {list(z.shape)}")
        x = z.reshape(z.shape[0], -1, 1, 1)
        for index in range(depth - 1):
            x = self.stage(index)(x)
        previous = x
        image = self.head(depth - 1)(self.stage(depth - 1)(x))
        if not is_fading(depth, alpha):
            return image
        old = F.interpolate(self.head(depth - 2)(previous), size=image.shape[-2:], mode="nearest")
        return fade_in(old, image, alpha)


class Discriminator(_Growable):
    """images [N, C, R, R] -> scores [N]; R must be the resolution of the stage `depth` starts at.
    Stages run in data-flow order (highest resolution first), so with depth d the last d run."""

    def __init__(self, spec: NetworkSpec):
        super().__init__(spec)
        if spec.role != "discriminator":
            raise ValueError(f"{spec.name} is a {spec.role} spec, not a discriminator spec")
        context = BuildContext(spec.image_channels)
        self.stages = nn.ModuleDict()
        self.from_rgb = nn.ModuleDict()
        for stage in spec.stages:
            image = (spec.image_channels, stage.resolution, stage.resolution)
            head, shape = build_layers(stage.rgb, image, context)
            self.from_rgb[stage_key(stage.resolution)] = head
            self.stages[stage_key(stage.resolution)] = build_layers(stage.layers, shape, context)[0]

    def head(self, index: int) -> nn.Sequential:
        """The from_rgb layers of stage `index`."""
        return self.from_rgb[stage_key(self.spec.stages[index].resolution)]

    def resolution(self, depth: int | None = None) -> int:
        """Input image size when `depth` stages run."""
        return self.spec.stages[self.num_stages - self._check_depth(depth)].resolution

    def forward(self, images: torch.Tensor, depth: int | None = None, alpha: Alpha = 1.0) -> torch.Tensor:
        depth = self._check_depth(depth)
        top = self.num_stages - depth
        expected = (self.spec.image_channels, self.spec.stages[top].resolution, self.spec.stages[top].resolution)
        if tuple(images.shape[1:]) != expected:
            raise ValueError(
                f"{self.spec.name}: at depth {depth} expects images of shape [N, {format_shape(expected)}], "
                f"got {list(images.shape)}"
            )
        x = self.stage(top)(self.head(top)(images))
        if is_fading(depth, alpha):
            x = fade_in(self.head(top + 1)(F.avg_pool2d(images, 2)), x, alpha)
        for index in range(top + 1, self.num_stages):
            x = self.stage(index)(x)
        return x.reshape(images.shape[0])


def build_network(spec: NetworkSpec) -> Generator | Discriminator:
    """The growable network a spec describes."""
    return Generator(spec) if spec.role == "generator" else Discriminator(spec)
