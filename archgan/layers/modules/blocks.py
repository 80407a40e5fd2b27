"""The modules that hold layer lists: Chain (a stage's layers, a block's path), a residual sum and a merge
of branches over paths the network builder has built. Named inputs (the class label) travel with the
tensor through every chain to the modules that read them."""
from __future__ import annotations

from types import MappingProxyType
from typing import Mapping

import torch
from torch import nn

from ..registry import BuildContext, Options, Shape

Inputs = Mapping[str, torch.Tensor]
"""The network's named inputs for this forward pass, e.g. {"label": [N] int64}; empty when it takes none."""
NO_INPUTS: Inputs = MappingProxyType({})


class TakesInputs(nn.Module):
    """A module whose forward is (x, inputs): those that read a named input, and those that hold chains."""


class Chain(nn.Sequential):
    """nn.Sequential that hands the network's named inputs to the modules that take them."""

    def forward(self, x: torch.Tensor, inputs: Inputs = NO_INPUTS) -> torch.Tensor:
        for module in self:
            x = module(x, inputs) if isinstance(module, TakesInputs) else module(x)
        return x


class Residual(TakesInputs):
    """(main(x) + shortcut(x)) · gain; an empty shortcut is the identity."""

    def __init__(self, main: Chain, shortcut: Chain, gain: float):
        super().__init__()
        self.main, self.shortcut, self.gain = main, shortcut, gain

    def forward(self, x: torch.Tensor, inputs: Inputs = NO_INPUTS) -> torch.Tensor:
        total = self.main(x, inputs) + self.shortcut(x, inputs)
        return total if self.gain == 1 else total * self.gain

    def extra_repr(self) -> str:
        return f"gain={self.gain}"


class Branches(TakesInputs):
    """Each branch on the same input, joined by sum (· gain) or by concatenating channels."""

    def __init__(self, branches: list[Chain], merge: str, gain: float):
        super().__init__()
        self.branches, self.merge, self.gain = nn.ModuleList(branches), merge, gain

    def forward(self, x: torch.Tensor, inputs: Inputs = NO_INPUTS) -> torch.Tensor:
        outputs = [branch(x, inputs) for branch in self.branches]
        if self.merge == "concat":
            return torch.cat(outputs, dim=1)
        total = sum(outputs[1:], outputs[0])
        return total if self.gain == 1 else total * self.gain

    def extra_repr(self) -> str:
        return f"merge={self.merge}, gain={self.gain}"


def build_residual(options: Options, shape: Shape, context: BuildContext) -> nn.Module:
    return Residual(options["main"], options["shortcut"], options["gain"])


def build_branches(options: Options, shape: Shape, context: BuildContext) -> nn.Module:
    return Branches(options["branches"], options["merge"], options["gain"])
