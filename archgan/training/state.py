"""TrainState: everything that changes while training, and nothing else — the networks, the generator
average, both optimizers, the counters, every random generator, the data order and the regularizers' and
augmentation's running values. Its state_dict()
is what a checkpoint stores (networks in their own safetensors files, the rest in one), and
load_state_dict() continues a run bit for bit on the same machine."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

import torch
from torch import nn

from ..data.augment.ops import Augmentation
from ..data.stream import RealImages
from ..errors import DatasetError, SetupError
from ..losses.objectives import PathLength
from ..networks import Discriminator, Generator
from ..networks.weights import load_weights
from .files import NETWORK_FILES, STATE_FILE


@dataclass(frozen=True)
class AdamSettings:
    """Adam for both networks. A network regularized lazily every k steps (its regularizer a phase of its
    own) gets lr ×k/(k+1) and betas^(k/(k+1)), as StyleGAN2 keeps its per-step dynamics the same."""

    betas: tuple[float, float]
    eps: float
    lazy_interval: dict[str, int]  # "generator" / "discriminator" -> k (1: not lazy)
    fused: bool = False  # the fused CUDA kernel

    def ratio(self, network: str) -> float:
        interval = self.lazy_interval.get(network, 1)
        return interval / (interval + 1) if interval > 1 else 1.0

    def make(self, network: str, parameters: Iterator[nn.Parameter], lr: float) -> torch.optim.Adam:
        ratio = self.ratio(network)
        betas = (self.betas[0] ** ratio, self.betas[1] ** ratio)
        return torch.optim.Adam(parameters, lr * ratio, betas, self.eps, fused=self.fused)

    def set_lr(self, network: str, optimizer: torch.optim.Optimizer, lr: float) -> None:
        for group in optimizer.param_groups:
            group["lr"] = lr * self.ratio(network)


@dataclass
class TrainState:
    generator: Generator
    discriminator: Discriminator
    generator_ema: Generator | None
    noise: torch.Generator  # latents and the losses' draws (penalty mixing, label noise)
    data: RealImages  # its shuffled order, cursor and mirror-flip generator
    adam: AdamSettings
    augment: Augmentation | None = None  # its probability and ADA's counts, when the training file augments
    path_length: PathLength | None = None  # its running mean length, when the training file regularizes so
    g_optimizer: torch.optim.Optimizer | None = None
    d_optimizer: torch.optim.Optimizer | None = None
    step: int = 0
    images_shown: int = 0
    period_index: int = -1  # the schedule period the optimizers were set up for

    @property
    def device(self) -> torch.device:
        """The run's device (the noise generator is made there)."""
        return self.noise.device

    def networks(self) -> dict[str, nn.Module]:
        """The networks a checkpoint writes, by their name in training/files.py."""
        named = {"generator": self.generator, "discriminator": self.discriminator, "generator_ema": self.generator_ema}
        return {name: network for name, network in named.items() if network is not None}

    def reset_optimizers(self, g_lr: float, d_lr: float) -> None:
        self.g_optimizer = self.adam.make("generator", self.generator.parameters(), g_lr)
        self.d_optimizer = self.adam.make("discriminator", self.discriminator.parameters(), d_lr)

    def set_learning_rates(self, g_lr: float, d_lr: float) -> None:
        self.adam.set_lr("generator", self.g_optimizer, g_lr)
        self.adam.set_lr("discriminator", self.d_optimizer, d_lr)

    def state_dict(self) -> dict[str, Any]:
        rng = {"torch": torch.get_rng_state(), "noise": self.noise.get_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        return {
            "networks": {name: network.state_dict() for name, network in self.networks().items()},
            "step": self.step,
            "images_shown": self.images_shown,
            "period_index": self.period_index,
            "g_optimizer": self.g_optimizer.state_dict() if self.g_optimizer else None,
            "d_optimizer": self.d_optimizer.state_dict() if self.d_optimizer else None,
            "rng": rng,
            "data": self.data.state_dict(),
        } | ({} if self.augment is None else {"augment": self.augment.state_dict()}) \
          | ({} if self.path_length is None else {"path_length": self.path_length.state_dict()})

    def load_state_dict(self, state: dict[str, Any], source: str = "the saved state") -> None:
        """Continue from `state` (a checkpoint folder's, `source`); a state that is not this run's (entries
        missing or extra, of the wrong kind) is a SetupError naming the checkpoint and the fix."""
        state = dict(state)
        if "phase_index" in state and "period_index" not in state:  # the name before 2026-12
            state["period_index"] = state.pop("phase_index")
        expected = self.state_dict()
        problems = [f"{key} is missing" for key in expected if key not in state]
        problems += [f"{key} is not an entry of a training state" for key in state if key not in expected]
        problems += [f"the {name} network ({NETWORK_FILES[name]}) is missing" for name in expected["networks"]
                     if name not in state.get("networks", {})]
        problems += [f"the {name} network ({NETWORK_FILES[name]}) is not part of this run"
                     for name in state.get("networks", {}) if name not in expected["networks"]]
        if problems:
            raise _state_error(source, "; ".join(problems))
        for name, network in self.networks().items():
            load_weights(network, state["networks"][name], f"{source}/{NETWORK_FILES[name]}")
        try:
            self._load_counters_and_randomness(state)
        except DatasetError as error:
            raise DatasetError(f"{source}: {error}") from None
        except (KeyError, TypeError, ValueError, RuntimeError, IndexError) as error:
            raise _state_error(source, f"{type(error).__name__}: {error}") from None

    def _load_counters_and_randomness(self, state: dict[str, Any]) -> None:
        self.step, self.images_shown = int(state["step"]), int(state["images_shown"])
        self.period_index = int(state["period_index"])
        if state["g_optimizer"] is not None:
            self.reset_optimizers(0.0, 0.0)  # the saved param groups bring their own learning rates and betas
            self.g_optimizer.load_state_dict(state["g_optimizer"])
            self.d_optimizer.load_state_dict(state["d_optimizer"])
        torch.set_rng_state(state["rng"]["torch"])
        self.noise.set_state(state["rng"]["noise"])
        if "cuda" in state["rng"] and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["rng"]["cuda"], self.device)
        self.data.load_state_dict(state["data"])
        if self.augment is not None:
            self.augment.load_state_dict(state["augment"])
        if self.path_length is not None:
            self.path_length.load_state_dict(state["path_length"])


def _state_error(source: str, problems: str) -> SetupError:
    return SetupError(f"{source}/{STATE_FILE}: the training state does not fit this run ({problems}); the checkpoint "
                      f"was changed or damaged: restore it from a copy, or delete {source} to resume from the one "
                      "before it")
