"""The dropout module: torch's Dropout, or Dropout2d for whole channels of a map."""
from __future__ import annotations

from torch import nn

from ..registry import BuildContext, Options, Shape


def build(options: Options, shape: Shape, context: BuildContext) -> nn.Module:
    return (nn.Dropout2d if options["spatial"] and len(shape) == 3 else nn.Dropout)(options["p"])
