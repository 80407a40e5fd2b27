"""Normalization modules: pixelnorm, and torch's batchnorm, instancenorm and layernorm."""
from __future__ import annotations

import torch
from torch import nn

from ..registry import BuildContext, Options, Shape


class PixelNorm(nn.Module):
    """Scale each pixel's feature vector to unit mean square: x / sqrt(mean_c(x²) + eps).

    Karras et al. 2018 (section 4.2) use it after every generator convolution so that neither network
    can escalate signal magnitudes; applied to a latent vector it normalizes the latent. With scope
    'batch' the mean runs over the whole tensor instead, batch included, as the APGAN seed's code
    does (one scale for the batch: samples then depend on each other).
    """

    def __init__(self, eps: float, scope: str):
        super().__init__()
        self.eps, self.scope = eps, scope

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean_square = x.square().mean(dim=1, keepdim=True) if self.scope == "pixel" else x.square().mean()
        return x * torch.rsqrt(mean_square + self.eps)

    def extra_repr(self) -> str:
        return f"eps={self.eps}, scope={self.scope}"


def build_pixelnorm(options: Options, shape: Shape, context: BuildContext) -> nn.Module:
    return PixelNorm(options["eps"], options["scope"])


def build_batchnorm(options: Options, shape: Shape, context: BuildContext) -> nn.Module:
    norm = (nn.BatchNorm2d if len(shape) == 3 else nn.BatchNorm1d)(
        shape[0], eps=options["eps"], momentum=options["momentum"], affine=options["affine"])
    if options["affine"] and options["init_std"] > 0:  # DCGAN's weights_init: scales from N(1, 0.02)
        nn.init.normal_(norm.weight, 1.0, options["init_std"])
    return norm


def build_instancenorm(options: Options, shape: Shape, context: BuildContext) -> nn.Module:
    return nn.InstanceNorm2d(shape[0], eps=options["eps"], affine=options["affine"])


def build_layernorm(options: Options, shape: Shape, context: BuildContext) -> nn.Module:
    return nn.LayerNorm(shape, eps=options["eps"], elementwise_affine=options["affine"])
