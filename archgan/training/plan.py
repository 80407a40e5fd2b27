"""RunPlan: everything about a run that can be decided before any tensor exists, from the two specs, the
training file, the length of a stage and the number of processes. The schedule (stages, their batch
sizes and learning rates, the fade-in and stable periods in real images shown, as the official ProGAN
counts) and every check of those files that needs no tensor live here, so `archgan validate` and
`train.py` refuse the same files with the same message, before any image is decoded.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import SetupError
from ..layers import layer_type
from ..losses import LOSSES
from ..spec import Location, NetworkSpec, SpecError
from ..spec.model import walk_layers
from ..spec.stages import plan_problem
from .config import TrainingConfig
from .memory import MemoryEstimate, check_memory, estimate_memory, format_bytes


@dataclass(frozen=True)
class Period:
    """A stretch of training: stage `stage` (0-based) either fading in or stable."""

    index: int
    stage: int
    fading: bool
    start: int  # images shown before this period
    images: int

    @property
    def end(self) -> int:
        return self.start + self.images


@dataclass(frozen=True)
class Position:
    period: Period
    alpha: float  # weight of the newest stage: ramps 0 -> 1 while fading, 1 when stable

    @property
    def depth(self) -> int:
        return self.period.stage + 1


@dataclass(frozen=True)
class StageSettings:
    """What the training file says for one stage."""

    resolution: int
    batch_size: int
    g_lr: float
    d_lr: float
    accumulate: int = 1  # micro-batches each process's batch is computed in, their gradients summed


def split_rows(count: int, group: int, parts: int, part: int) -> list[int]:
    """The rows of part `part` of a batch of `count` rows cut into `parts` (processes, or micro-batches of
    one process). With minibatch-stddev groups of `group`, whose members are rows m, m+M, m+2M, ...
    (M = count / group), each part takes whole groups, in the order the layer reads them, so that the
    parts compute what the whole batch would; contiguous rows where the groups cannot be split so."""
    group = min(group, count)
    members = count // group
    if group > 1 and members % parts == 0:
        share = members // parts
        return [k * members + m for k in range(group) for m in range(part * share, (part + 1) * share)]
    share = count // parts
    return list(range(part * share, (part + 1) * share))


def batch_group(discriminator: NetworkSpec) -> int:
    """The most samples a discriminator layer reads together (minibatch stddev's group; 1 for none), by
    the layer types' `batch_group` capability."""
    sizes = [kind.batch_group(layer.options) for stage in discriminator.stages
             for layer in walk_layers(stage.layers + stage.head_layers)
             if (kind := layer_type(layer.type)).batch_group is not None]
    return max(sizes, default=1)


def check_fit(generator: NetworkSpec, discriminator: NetworkSpec, training: TrainingConfig,
              world_size: int = 1) -> tuple[StageSettings, ...]:
    """The per-stage settings, once the three files are known to fit together and every batch can be
    split among the processes and into the discriminator's groups."""
    if generator.resolutions != discriminator.resolutions[::-1]:
        raise SetupError(
            f"{generator.source} and {discriminator.source}: the generator's stages "
            f"({', '.join(map(str, generator.resolutions))}) and the discriminator's "
            f"({', '.join(map(str, discriminator.resolutions[::-1]))}) must have the same resolutions"
        )
    if generator.image_channels != discriminator.image_channels:
        raise SetupError(
            f"{generator.source} and {discriminator.source}: the generator makes {generator.image_channels}-channel "
            f"images but the discriminator reads {discriminator.image_channels}-channel ones: set the same "
            "image_channels in both"
        )
    if generator.classes != discriminator.classes:
        def takes(spec: NetworkSpec) -> str:
            return f"labels of {spec.classes} classes" if spec.classes else "no labels"
        raise SetupError(
            f"{generator.source} and {discriminator.source}: the generator takes {takes(generator)} but the "
            f"discriminator {takes(discriminator)}: declare the same `inputs: {{label: {{classes: N}}}}` in both "
            "(a class-conditional GAN's discriminator scores an image together with its class)"
        )
    if (generator.images == "all") != (discriminator.images == "all"):
        makes = "one image per stage" if generator.images == "all" else "one image"
        reads = "one image per stage" if discriminator.images == "all" else "one image"
        raise SetupError(
            f"{generator.source} and {discriminator.source}: the generator makes {makes} (images: {generator.images}) "
            f"but the discriminator reads {reads} (images: {discriminator.images}): pair a generator and a "
            "discriminator with images: all (MSG-GAN), or neither")
    if discriminator.images == "all" and training.loss["type"] == "wgan-gp" and training.loss["full_resolution_penalty"]:
        raise SpecError.single(training.locations.get("loss", Location(training.source, ("loss",))),
                               "full_resolution_penalty reproduces ProGAN's penalty on images upsampled to the final "
                               "size; a discriminator reading every scale takes its penalty on all of them",
                               hint="set full_resolution_penalty: false")
    if training.path_length is not None and generator.mapping is None:
        raise SpecError.single(training.locations.get("path_length", Location(training.source, ("path_length",))),
                               f"the path length penalty differentiates the images w.r.t. the styles of a mapping "
                               f"network, but the generator {generator.name} has none",
                               hint="set path_length: null, or train a style-based generator (e.g. stylegan2)")
    if training.style_mixing > 0 and generator.mapping is None:
        raise SpecError.single(training.locations.get("style_mixing", Location(training.source, ("style_mixing",))),
                               f"style mixing mixes the styles of a mapping network, but the generator {generator.name} "
                               "has none", hint="set style_mixing: 0, or train a style-based generator (e.g. stylegan)")
    count = len(generator.stages)
    stages = tuple(StageSettings(*values) for values in zip(
        generator.resolutions, *(training.per_stage(name, count) for name in ("batch_size", "g_lr", "d_lr", "accumulate"))))
    group = batch_group(discriminator)
    for stage in stages:
        _check_batch(stage, group, world_size, training)
        if training.path_length is not None and (stage.batch_size // training.path_length["batch_shrink"]) % world_size:
            raise SpecError.single(
                training.locations.get("path_length", Location(training.source, ("path_length",))),
                f"the path length penalty's batch ({stage.batch_size} // batch_shrink "
                f"{training.path_length['batch_shrink']}) of the {stage.resolution}×{stage.resolution} stage does "
                f"not divide among {world_size} processes", hint="change batch_shrink or the batch size")
    return stages


def _check_batch(stage: StageSettings, group: int, world: int, training: TrainingConfig) -> None:
    """Batches the processes or the discriminator's groups cannot split are refused before training."""
    size, batch = f"{stage.resolution}×{stage.resolution}", stage.batch_size
    where = training.locations.get("batch_size", Location(training.source, ("batch_size",)))
    if batch % world:
        raise SpecError.single(where, f"the global batch size {batch} of the {size} stage does not divide among "
                               f"{world} processes", hint=f"use a multiple of {world}")
    local, processes = batch // world, f" on each of {world} processes" if world > 1 else ""
    group = min(group, local)
    if local % group:
        raise SpecError.single(
            where, f"batch size {batch} of the {size} stage cannot be split into minibatch_stddev groups of {group}"
            + processes, hint=f"use a multiple of {group * world}")
    if stage.accumulate == 1:
        return
    where = training.locations.get("accumulate", Location(training.source, ("accumulate",)))
    if not LOSSES[training.loss["type"]].per_sample:
        raise SpecError.single(where, f"the {training.loss['type']} loss compares each sample with the mean of the "
                               "whole batch, so its batch cannot be computed in micro-batches",
                               hint="use accumulate 1 with this loss, or a loss such as wgan-gp, hinge or logistic")
    groups = local // group
    if groups % stage.accumulate:
        raise SpecError.single(
            where, f"accumulate {stage.accumulate} of the {size} stage cannot split its batch of {local}{processes} "
            f"into equal micro-batches of whole minibatch_stddev groups of {group}",
            hint=f"use a divisor of {groups}" + (f" (micro-batches of {group} images or a multiple)" if group > 1 else ""))


def _check_periods_run(periods: tuple[Period, ...], stages: tuple[StageSettings, ...], generator: NetworkSpec,
                       discriminator: NetworkSpec, training: TrainingConfig) -> None:
    """Every period trains at a depth (fading in or not) both networks can run at (spec/stages.plan_problem):
    a network whose lower stages have no image head starts at its full depth, one that reads or makes every
    scale does not fade in."""
    for period in periods:
        for spec in (generator, discriminator):
            problem = plan_problem(spec, period.stage + 1, period.fading)
            if problem is not None:
                key = "fade_kimg" if period.fading else "stable_kimg"
                size = stages[period.stage].resolution
                raise SpecError.single(training.locations.get(key, Location(training.source, (key,))),
                                       f"the schedule trains the {size}×{size} stage {'fading in' if period.fading else 'stable'}, "
                                       f"but the {spec.role} {spec.name} cannot run there: {problem}")


def _periods(training: TrainingConfig, count: int, images_per_stage: int | None, start: int = 0) -> tuple[Period, ...]:
    """Stage `start` (0, or a later one when fine-tuning a trained network from there) stable, then for
    every later stage a fade-in and a stable period. `images_per_stage`, when given (from --kimg or
    --num_epochs), replaces the file's numbers: each stage then shows that many images, the first half
    fading in. The first stage trained never fades: there is nothing to fade from."""
    if images_per_stage is None:
        fade = [round(k * 1000) for k in training.per_stage("fade_kimg", count)]
        stable = [round(k * 1000) for k in training.per_stage("stable_kimg", count)]
    else:
        fade = [images_per_stage // 2] * count
        stable = [images_per_stage - images_per_stage // 2] * count
        stable[start] = images_per_stage
    fade[start] = 0
    periods: list[Period] = []
    for stage in range(start, count):
        for fading, images in ((True, fade[stage]), (False, stable[stage])):
            if images > 0:
                periods.append(Period(len(periods), stage, fading, periods[-1].end if periods else 0, images))
    if not periods:
        where = training.locations.get("stable_kimg", Location(training.source, ("stable_kimg",)))
        raise SpecError.single(
            where, "the schedule shows no images: every stage's stable_kimg (and every fade_kimg after the first "
            "stage) is 0", hint="give stable_kimg above 0 (thousands of real images per stage), or --kimg")
    return tuple(periods)


@dataclass(frozen=True)
class RunPlan:
    stages: tuple[StageSettings, ...]
    periods: tuple[Period, ...]
    batch_group: int  # the discriminator's minibatch-stddev group: each process's rows keep groups whole
    world_size: int
    memory: MemoryEstimate  # per process and stage (training/memory.py)
    real_batches_per_step: int = 1  # n_critic: each discriminator step draws a real batch

    @classmethod
    def build(cls, generator: NetworkSpec, discriminator: NetworkSpec, training: TrainingConfig, *,
              world_size: int = 1, images_per_stage: int | None = None, start_resolution: int | None = None) -> RunPlan:
        """Check the files against each other and lay out the schedule, from the first stage or from the
        one at `start_resolution` (fine-tuning); SpecError or SetupError otherwise."""
        stages = check_fit(generator, discriminator, training, world_size)
        resolutions = [stage.resolution for stage in stages]
        if start_resolution is not None and start_resolution not in resolutions:
            raise SetupError(f"start stage {start_resolution}: the networks have no such stage; give one of "
                             f"{', '.join(map(str, resolutions))}")
        start = 0 if start_resolution is None else resolutions.index(start_resolution)
        periods = _periods(training, len(stages), images_per_stage, start)
        _check_periods_run(periods, stages, generator, discriminator, training)
        memory = estimate_memory(generator, discriminator, training, world_size)
        check_memory(memory, generator, discriminator, training)
        return cls(stages, periods, batch_group(discriminator), world_size, memory, training.n_critic)

    @property
    def resolutions(self) -> list[int]:
        return [stage.resolution for stage in self.stages]

    @property
    def final_resolution(self) -> int:
        return self.stages[-1].resolution

    @property
    def total_images(self) -> int:
        return self.periods[-1].end

    def position(self, images_shown: int) -> Position:
        """Where training is after `images_shown` images (past the end: the last period, stable)."""
        for period in self.periods:
            if images_shown < period.end:
                alpha = (images_shown - period.start) / period.images if period.fading else 1.0
                return Position(period, alpha)
        return Position(self.periods[-1], 1.0)

    def position_in(self, stage: int, alpha: float = 1.0) -> Position:
        """A position inside stage `stage` (0-based): fading in at `alpha` < 1, else stable; for stepping
        at a chosen stage (benchmarks, experiments) rather than where the schedule stands."""
        fading = alpha < 1
        for period in self.periods:
            if period.stage == stage and period.fading == fading:
                return Position(period, alpha if fading else 1.0)
        what = f"a fade-in to stage {stage} at alpha {alpha}" if fading else f"a stable period of stage {stage}"
        raise ValueError(f"this schedule has no {what}")

    def stage(self, position: Position) -> StageSettings:
        return self.stages[position.period.stage]

    def describe(self, position: Position) -> str:
        """'16×16 fade' or '16×16 stable', as the progress bar and logs say it."""
        size = self.stage(position).resolution
        return f"{size}×{size} {'fade' if position.period.fading else 'stable'}"

    def steps(self) -> list[int]:
        """Training steps per period: a step belongs to the period its first image falls in, and shows
        batch × n_critic real images."""
        shown, counts = 0, []
        for period in self.periods:
            per_step = self.stages[period.stage].batch_size * self.real_batches_per_step
            count = max(0, math.ceil((period.end - shown) / per_step))
            counts.append(count)
            shown += count * per_step
        return counts

    def table(self) -> str:
        """The schedule as `--dry-run` prints it: one row per period with its stage's settings and the
        memory one process needs there (estimated: training/memory.py)."""
        rows = [("period", "images", "steps", "batch", "accumulate", "G lr", "D lr", "memory")]
        for period, steps in zip(self.periods, self.steps()):
            stage = self.stages[period.stage]
            memory = format_bytes(self.memory.stages[period.stage].total_bytes)
            rows.append((self.describe(Position(period, 0.0)), f"{period.images:,}", f"{steps:,}", str(stage.batch_size),
                         str(stage.accumulate), f"{stage.g_lr:g}", f"{stage.d_lr:g}", memory))
        rows.append(("total", f"{self.total_images:,}", f"{sum(self.steps()):,}", "", "", "", "", ""))
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows)
