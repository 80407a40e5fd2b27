"""More than one process: torchrun starts them, torch.distributed connects them (NCCL on GPUs, Gloo on
the CPU), and DistributedDataParallel keeps G and D in step. One process is the case world_size 1:
no process group, no wrappers.

Batch sizes are global. Every rank draws the same global batch (real indices, mirror flips, latents,
penalty mixing factors, all from generators seeded alike) and computes its share of the rows, chosen
so that each minibatch-stddev group lands whole on one rank: the run then computes what one process
with the global batch would, up to the order of floating-point sums.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from ..networks import Discriminator, Generator
from ..spec.stages import stage_plan
from .plan import split_rows


@dataclass(frozen=True)
class Distribution:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Only the main process writes samples, logs, plots and checkpoints."""
        return self.rank == 0


def init_from_environment(device: str) -> tuple[Distribution, str]:
    """Join the process group torchrun describes in the environment (RANK, WORLD_SIZE, LOCAL_RANK and
    the rendezvous variables); returns the distribution and this process's device."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return Distribution(), device
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if device.startswith("cuda"):
        device = f"cuda:{local_rank}"
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    return Distribution(rank, world_size, local_rank), device


def broadcast(value: Any, distribution: Distribution) -> Any:
    """The main process's `value` on every rank (e.g. a run folder named after the time)."""
    if not distribution.enabled:
        return value
    holder = [value]
    dist.broadcast_object_list(holder, src=0)
    return holder[0]


def barrier(distribution: Distribution) -> None:
    if distribution.enabled:
        dist.barrier()


def shard_rows(batch: int, distribution: Distribution, group: int) -> torch.Tensor | None:
    """The rows of a global batch this rank computes (None for one process): whole minibatch-stddev
    groups of `group`, in the order the layer reads them (plan.split_rows)."""
    if not distribution.enabled:
        return None
    return torch.tensor(split_rows(batch, group, distribution.world_size, distribution.rank))


class ActiveParts(nn.Module):
    """The submodules a growable network uses at one depth and phase, as one module for DDP to wrap:
    DDP expects a gradient for every parameter it holds, and the stages above `depth` (and, once a stage
    is stable, the previous stage's head) receive none. Calling it runs the whole network."""

    def __init__(self, network: Generator | Discriminator, depth: int, fading: bool):
        super().__init__()
        object.__setattr__(self, "network", network)  # not a submodule: only the used parts are
        plan = stage_plan(network.spec, depth, fading)
        mapping = [network.mapping] if getattr(network, "mapping", None) is not None else []
        self.parts = nn.ModuleList(mapping + [network.stage(i) for i in plan.stages] + [network.head(i) for i in plan.heads])

    def forward(self, x: torch.Tensor, depth: int, alpha, **inputs: Any) -> torch.Tensor:
        return self.network(x, depth, alpha, **inputs)


def wrap(network: Generator | Discriminator, depth: int, fading: bool, distribution: Distribution) -> nn.Module:
    """The network to train this period with: itself for one process, else DDP over its active parts
    (DDP registers the parameters that require gradients when it is built: all of them, here)."""
    if not distribution.enabled:
        return network
    network.requires_grad_(True)
    device_ids = [distribution.local_rank] if next(network.parameters()).is_cuda else None
    return DistributedDataParallel(ActiveParts(network, depth, fading), device_ids=device_ids)


def mean_over_ranks(values: torch.Tensor, distribution: Distribution) -> torch.Tensor:
    if distribution.enabled:
        values = values.clone()
        dist.all_reduce(values)
        values /= distribution.world_size
    return values


def any_rank(flag: bool, device: torch.device, distribution: Distribution) -> bool:
    """Whether `flag` is set on any rank (so that all ranks stop at the same step)."""
    if not distribution.enabled:
        return flag
    value = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def check_in_sync(networks: list[nn.Module], device: torch.device, distribution: Distribution, step: int) -> None:
    """--check_sync: fail loudly when the ranks' parameters differ (they must be identical after every step)."""
    if not distribution.enabled:
        return
    total = torch.stack([p.detach().double().sum() for n in networks for p in n.parameters()]).sum().view(1).to(device)
    low, high = total.clone(), total.clone()
    dist.all_reduce(low, op=dist.ReduceOp.MIN)
    dist.all_reduce(high, op=dist.ReduceOp.MAX)
    if low.item() != high.item():
        raise RuntimeError(f"after step {step} the ranks' parameters differ (checksums {low.item()!r} … {high.item()!r})")
