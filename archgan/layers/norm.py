"""Normalization layers: pixelnorm (ProGAN) and batchnorm."""
from __future__ import annotations

import torch
from torch import nn

from .activations import same_shape
from .registry import BuildContext, LayerType, Option, Options, Shape, register


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


register(
    LayerType(
        name="pixelnorm",
        family="norm",
        doc="Pixelwise feature-vector normalization x / sqrt(mean over channels of x² + eps) (ProGAN).",
        options={
            "eps": Option({"type": "number", "exclusiveMinimum": 0}, "added under the square root", 1e-8),
            "scope": Option({"enum": ["pixel", "batch"]}, "pixel: over the channels of each pixel (ProGAN); "
                            "batch: over the whole tensor (the APGAN seed's code)", "pixel"),
        },
        output_shape=same_shape,
        build=lambda o, shape, context: PixelNorm(o["eps"], o["scope"]),
        example={"type": "pixelnorm"},
    )
)


def _build_batchnorm(options: Options, shape: Shape, context: BuildContext) -> nn.Module:
    norm = nn.BatchNorm2d if len(shape) == 3 else nn.BatchNorm1d
    return norm(shape[0], eps=options["eps"], momentum=options["momentum"], affine=options["affine"])


register(
    LayerType(
        name="batchnorm",
        family="norm",
        doc="Batch normalization over the channels of a map (or the features of a vector).",
        options={
            "eps": Option({"type": "number", "exclusiveMinimum": 0}, "added to the variance", 1e-5),
            "momentum": Option({"type": "number", "minimum": 0, "maximum": 1}, "running-statistics momentum", 0.1),
            "affine": Option({"type": "boolean"}, "learn a per-channel scale and shift", True),
        },
        output_shape=same_shape,
        build=_build_batchnorm,
        example={"type": "batchnorm"},
    )
)
