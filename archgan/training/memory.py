"""How much memory training needs at each stage, estimated from the specs and the training file alone
(no torch), so `archgan validate` can refuse what cannot be allocated and `archgan show` can answer
"will 512² fit on my GPU?" before a run starts.

The estimate, in float32 (4 bytes a value; --amp's bf16 forward passes need less), per process:

    fixed   = 4 · (2·P_G + P_D)                   weights of G, D and G's average, every stage (all are built)
    trained = 4 · 3 · (T_G + T_D)                 gradients and Adam's two moments of the parameters that run
    D step  = 4 · B · (2 + 2·[penalty]) · A_D     D on the real and the generated batch, kept for backward
                                                  (G runs without a graph); a gradient penalty (WGAN-GP, R1)
                                                  keeps D's pass and its gradient's graph for the double backward
    G step  = 4 · B · (A_G + A_D)                 G, and D on G's images (D takes no gradient, its pass is kept)
    stage   = fixed + trained + max(D step, G step)

with P the parameters of every stage, T those of the stages and heads that run at that depth while
fading in (the optimizers hold state for nothing else), A the values one sample keeps there (archgan/spec/memory.py), B the images one process computes together (its share of
the stage's batch, divided by `accumulate`). Not counted: the
image cache (it moves to the GPU only when it fits), the framework's own workspace (cuDNN, the CUDA
context, the allocator's rounding). tests/test_memory.py checks the estimate against measured peaks.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import SetupError
from ..losses import LOSSES
from ..spec import NetworkSpec
from ..spec.memory import stage_activations
from ..spec.summary import total_parameters
from .config import TrainingConfig

BYTES_PER_VALUE = 4
MEMORY_LIMIT = 2**40
"""1 TiB for one process: more than any one accelerator or ordinary machine holds, so a file that needs
more is a mistake (a width or batch size with extra digits), refused rather than left to fail in an
allocation."""
LARGEST_TENSOR = 2**63 - 1
"""Elements PyTorch can index in one tensor (int64)."""


@dataclass(frozen=True)
class StageMemory:
    resolution: int
    batch_size: int  # images computed together: one process's share of the batch, or of a micro-batch
    optimizer_bytes: int  # gradients and Adam state of the parameters that run
    activation_bytes: int  # the larger of the D and G steps
    largest_tensor: int  # elements, batch included
    total_bytes: int


@dataclass(frozen=True)
class MemoryEstimate:
    generator_parameters: int
    discriminator_parameters: int
    fixed_bytes: int
    stages: tuple[StageMemory, ...]

    @property
    def peak_bytes(self) -> int:
        return max(stage.total_bytes for stage in self.stages)


def estimate_memory(generator: NetworkSpec, discriminator: NetworkSpec, training: TrainingConfig,
                    world_size: int = 1) -> MemoryEstimate:
    """The estimate above for every stage (the two specs' resolutions must match: RunPlan checks that)."""
    g_parameters, d_parameters = total_parameters(generator), total_parameters(discriminator)
    fixed = BYTES_PER_VALUE * (2 * g_parameters + d_parameters)
    penalty = LOSSES[training.loss["type"]].double_backward(training.loss)
    batches = training.per_stage("batch_size", len(generator.stages))
    micro_batches = training.per_stage("accumulate", len(generator.stages))
    stages = []
    for g, d, batch, accumulate in zip(stage_activations(generator), stage_activations(discriminator), batches,
                                       micro_batches):
        share = max(1, batch // world_size // accumulate)
        d_step, g_step = (2 + 2 * penalty) * d.values, g.values + d.values
        activations = BYTES_PER_VALUE * share * max(d_step, g_step)
        trained = BYTES_PER_VALUE * 3 * (g.trained_parameters + d.trained_parameters)
        stages.append(StageMemory(g.resolution, share, trained, activations, share * max(g.largest, d.largest),
                                  fixed + trained + activations))
    return MemoryEstimate(g_parameters, d_parameters, fixed, tuple(stages))


def check_memory(estimate: MemoryEstimate, generator: NetworkSpec, discriminator: NetworkSpec,
                 training: TrainingConfig) -> None:
    """Refuse a run that cannot be allocated: past MEMORY_LIMIT in all, or a tensor PyTorch cannot index."""
    files = f"{generator.source} and {discriminator.source} with {training.source}"
    for stage in estimate.stages:
        size = f"{stage.resolution}×{stage.resolution}"
        if stage.largest_tensor > LARGEST_TENSOR:
            raise SetupError(f"{files}: at the {size} stage with batch {stage.batch_size} one tensor would hold "
                             f"{stage.largest_tensor:.3g} values, more than PyTorch can index (2⁶³ − 1): check the "
                             "channels of that stage's layers and the batch sizes")
        if stage.total_bytes > MEMORY_LIMIT:
            raise SetupError(
                f"{files}: training the {size} stage "
                f"at batch {stage.batch_size} needs about {format_bytes(stage.total_bytes)} "
                f"({format_bytes(estimate.fixed_bytes)} of weights for "
                f"{estimate.generator_parameters + estimate.discriminator_parameters:,} parameters, "
                f"{format_bytes(stage.optimizer_bytes)} of gradients and Adam state, "
                f"{format_bytes(stage.activation_bytes)} of activations), more than the {format_bytes(MEMORY_LIMIT)} "
                "that any one device holds: check the layers' channels and the batch sizes")


def format_bytes(count: float) -> str:
    """1536 -> '1.5 KiB'."""
    units = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB")
    power = 0
    while count >= 1024 and power < len(units) - 1:
        count, power = count / 1024, power + 1
    return f"{count:.0f} B" if power == 0 else f"{count:.1f} {units[power]}"
