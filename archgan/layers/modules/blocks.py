"""Block modules: a residual sum and a merge of branches over paths the network builder has built."""
from __future__ import annotations

import torch
from torch import nn

from ..registry import BuildContext, Options, Shape


class Residual(nn.Module):
    """(main(x) + shortcut(x)) · gain; an empty shortcut is the identity."""

    def __init__(self, main: nn.Sequential, shortcut: nn.Sequential, gain: float):
        super().__init__()
        self.main, self.shortcut, self.gain = main, shortcut, gain

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        total = self.main(x) + self.shortcut(x)
        return total if self.gain == 1 else total * self.gain

    def extra_repr(self) -> str:
        return f"gain={self.gain}"


class Branches(nn.Module):
    """Each branch on the same input, joined by sum (· gain) or by concatenating channels."""

    def __init__(self, branches: list[nn.Sequential], merge: str, gain: float):
        super().__init__()
        self.branches, self.merge, self.gain = nn.ModuleList(branches), merge, gain

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs = [branch(x) for branch in self.branches]
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
