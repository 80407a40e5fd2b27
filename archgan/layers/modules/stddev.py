"""The minibatch standard deviation module."""
from __future__ import annotations

import torch
from torch import nn

from ..registry import BuildContext, Options, Shape


class MinibatchStddev(nn.Module):
    """Append the average standard deviation over groups of samples as extra feature maps.

    As the official code: the batch is split into groups of `group_size` samples where sample n
    belongs to group n mod (N / G); for each group the standard deviation of every feature over its G
    members is averaged over features and pixels (per slice of C / num_features channels) and
    appended to each member as `num_features` constant maps. A batch smaller than the group size
    forms one group. A batch that does not divide into groups is refused (the official code fails
    inside a reshape there).
    """

    def __init__(self, group_size: int, num_features: int):
        super().__init__()
        self.group_size, self.num_features = group_size, num_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        group = min(self.group_size, n)
        if n % group:
            raise ValueError(
                f"minibatch_stddev: a batch of {n} cannot be split into groups of {group}; "
                f"use a batch size that is a multiple of {group} or set group_size to a divisor of {n}"
            )
        f = self.num_features
        y = x.float().reshape(group, n // group, f, c // f, h, w)
        y = (y - y.mean(dim=0)).square().mean(dim=0).add(1e-8).sqrt()  # [M, F, C/F, H, W]
        y = y.mean(dim=(2, 3, 4)).to(x.dtype)  # [M, F]
        y = y.reshape(-1, f, 1, 1).repeat(group, 1, h, w)  # [N, F, H, W]
        return torch.cat([x, y], dim=1)

    def extra_repr(self) -> str:
        return f"group_size={self.group_size}, num_features={self.num_features}"


def build(options: Options, shape: Shape, context: BuildContext) -> nn.Module:
    return MinibatchStddev(options["group_size"], options["num_features"])
