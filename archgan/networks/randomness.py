"""Random layers draw from the generator a training step hands them, not from torch's global one, so that N
processes train as one and a resumed run draws exactly what the uninterrupted one would."""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

from torch import nn

from ..layers.modules.noise import Draws, RandomLayer


@contextlib.contextmanager
def drawing_from(draws: Draws, *networks: nn.Module) -> Iterator[None]:
    """For the duration of the block every random layer of `networks` draws from `draws`; the networks'
    forward signature stays as it is. Afterwards they fall back to torch's global generator."""
    layers = {id(m): m for network in networks for m in network.modules() if isinstance(m, RandomLayer)}
    for layer in layers.values():
        layer.draws = draws
    try:
        yield
    finally:
        for layer in layers.values():
            layer.draws = None
