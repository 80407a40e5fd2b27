"""The parts of a run put together, and the one progressive training loop for every architecture.

`Trainer(settings)` builds the RunPlan (schedule and checks), the TrainState (networks, average,
optimizers, counters, random generators, data order) and the phases of a step; `train_step()` runs one
step where the schedule stands, and `run(hooks)` repeats it to the end of the schedule (or
`max_images`, or a stop request), calling the hooks (samples, metrics, checkpoints, logs, the progress
bar: training/hooks.py) around every step. Losses stay on the device and are read back only every
`log_every` steps, so a step never waits for the host.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn

from ..data.augment.ops import Augmentation
from ..data.folder import load_image_folder
from ..data.labels import ClassLabels, load_labels
from ..data.stream import RealImages
from ..errors import SetupError
from ..interop.pretrained import load_pretrained
from ..losses import build_loss
from ..losses.objectives import LossContext, PathLength
from ..metrics import METRICS
from ..networks import Discriminator, Generator
from ..networks.weights import LoadReport
from .checkpoint import read_checkpoint
from .distributed import Distribution, any_rank, barrier, check_in_sync, mean_over_ranks, shard_rows, wrap
from .ema import make_ema
from .finite import check_finite
from .hooks import Hook, RunResult, StepEvent, closing
from .phases import build_phases, lazy_intervals
from .plan import Position, RunPlan, check_fit
from .run import RunSettings
from .speed import CompiledPasses, backend_flags
from .state import AdamSettings, TrainState
from .step import StepContext, Terms, train_step

log = logging.getLogger("archgan.train")


class Trainer:
    def __init__(self, settings: RunSettings, resume_from: Path | None = None,
                 distribution: Distribution = Distribution()):
        self.settings, self.distribution = settings, distribution
        config = settings.training
        specs = (settings.generator, settings.discriminator, config)
        start = settings.start_resolution
        if settings.stage_epochs is None:  # all but the data is known: every check runs before any decoding
            RunPlan.build(*specs, world_size=distribution.world_size, images_per_stage=settings.images_per_stage(),
                          start_resolution=start)
        else:
            check_fit(*specs, world_size=distribution.world_size)
        if settings.labels_file and not settings.generator.classes:
            raise SetupError(f"--labels {settings.labels_file}: these networks take no class label; a labels file is for "
                             "class-conditional networks (inputs: {label: {classes: N}} in both files)")
        for name in config.metrics:
            if METRICS[name].prepare is not None:
                METRICS[name].prepare({"inception_weights": settings.inception_weights})
        if settings.cuda_graphs and not settings.compile:
            raise SetupError("--cuda_graphs replays the compiled passes as CUDA graphs: add --compile")
        self.device = torch.device(settings.device)
        generator, discriminator, generator_ema = self._networks(pretrained=resume_from is None)
        self.real_images, self.labels, self.skipped_images = self._read_images()
        data = RealImages(self.real_images, self.device, settings.seed, config.mirror, settings.generator.fade_resample,
                          None if self.labels is None else self.labels.of_image)
        self.plan = RunPlan.build(*specs, world_size=distribution.world_size,
                                  images_per_stage=settings.images_per_stage(len(data)), start_resolution=start)
        self.loss = build_loss(config.loss)
        path_length = None if config.path_length is None else PathLength(config.path_length, self.device)
        self.phases = build_phases(config, self.loss, style_based=settings.generator.mapping is not None,
                                   path_length=path_length)
        adam = AdamSettings(tuple(config.adam_betas), config.adam_eps, lazy_intervals(self.loss, path_length),
                            fused=self.device.type == "cuda")
        noise = torch.Generator(device=self.device).manual_seed(settings.seed + 2)
        augment = None if config.augment is None else Augmentation(config.augment, self.device)
        self.state = TrainState(generator, discriminator, generator_ema, noise, data, adam, augment, path_length)
        self.stop_requested = False  # set by a signal handler: the loop stops after the current step
        self._trained: tuple[int, nn.Module, nn.Module] | None = None  # (period, G, D) as trained this period
        self.compiled = CompiledPasses(settings.cuda_graphs) if settings.compile else None
        self.resumed_from = resume_from  # the checkpoint this run continues, if any
        if resume_from is not None:
            self.state.load_state_dict(read_checkpoint(resume_from), str(resume_from))
            log.info("resumed from %s at step %d, %s images", resume_from, self.state.step,
                     f"{self.state.images_shown:,}")

    def _networks(self, pretrained: bool) -> tuple[Generator, Discriminator, Generator | None]:
        """G, D (with the pretrained weights the settings name) and the average of G, on the device; the
        same initial weights in every process."""
        settings, distribution = self.settings, self.distribution
        torch.manual_seed(settings.seed)
        generator = Generator(settings.generator).to(self.device)
        discriminator = Discriminator(settings.discriminator).to(self.device)
        if pretrained:
            for network, file in ((generator, settings.generator_file), (discriminator, settings.discriminator_file)):
                report = load_pretrained(network, file, strict=not settings.allow_partial) if file else None
                _warn_of_untrained_stages(network, report, settings.start_resolution)
        if settings.sync_bn and distribution.enabled:
            if self.device.type != "cuda":
                raise SetupError("--sync_bn synchronises batch norm across GPUs; it needs CUDA devices")
            generator = nn.SyncBatchNorm.convert_sync_batchnorm(generator)
            discriminator = nn.SyncBatchNorm.convert_sync_batchnorm(discriminator)
        if settings.channels_last:
            generator = generator.to(memory_format=torch.channels_last)
            discriminator = discriminator.to(memory_format=torch.channels_last)
        generator_ema = make_ema(generator) if settings.training.keeps_average else None
        torch.manual_seed(settings.seed + distribution.rank)  # layer randomness (dropout) differs per process
        return generator, discriminator, generator_ema

    def _read_images(self) -> tuple[np.ndarray, ClassLabels | None, list[tuple[str, str]]]:
        """The training images (uint8, the `data_percentage` subset), their class labels when the networks
        take labels, and the files skipped as unreadable; the main process decodes the folder into the
        cache first, the others then read the cache."""
        settings = self.settings
        if not self.distribution.is_main:
            barrier(self.distribution)
        cache = load_image_folder(settings.images_dir, settings.generator.max_resolution,
                                  settings.generator.image_channels,
                                  Path(settings.cache_dir) if settings.cache_dir else None, settings.num_workers)
        if self.distribution.is_main:
            barrier(self.distribution)
        keep = _subset(len(cache.images), settings.data_percentage)
        labels = load_labels(settings.images_dir, [cache.files[k] for k in keep], settings.generator.classes,
                             settings.labels_file) if settings.generator.classes else None
        return cache.images[keep] if len(keep) < len(cache.images) else cache.images, labels, cache.skipped

    # ------------------------------------------------------------------------------------- step

    def train_step(self, position: Position | None = None) -> Terms:
        """One step at `position` (default: where the schedule stands): set up the optimizers when a new
        period starts, then run the phases. Returns the loss terms on the device."""
        state, settings = self.state, self.settings
        position = position or self.plan.position(state.images_shown)
        stage = self.plan.stage(position)
        if position.period.index != state.period_index:
            self._enter_period(position)
        generator, discriminator = self._trained_networks(position)
        rows = shard_rows(stage.batch_size, self.distribution, self.plan.batch_group)
        context = StepContext(
            state=state, position=position, stage=stage, loss=self.loss,
            loss_context=LossContext(stage.resolution, self.plan.final_resolution, state.noise, rows, stage.batch_size),
            generator=generator, discriminator=discriminator, rows=rows, batch_group=self.plan.batch_group, amp=settings.amp,
            channels_last=settings.channels_last, distribution=self.distribution,
            style_mixing_probability=settings.training.style_mixing, compiled=self.compiled,
        )
        terms = train_step(context, self.phases)
        if settings.check_sync:
            check_in_sync([state.generator, state.discriminator], self.device, self.distribution, state.step)
        return terms

    def _enter_period(self, position: Position) -> None:
        state, stage = self.state, self.plan.stage(position)
        if state.g_optimizer is None or self.settings.training.reset_optimizers_on_grow:
            state.reset_optimizers(stage.g_lr, stage.d_lr)
        state.set_learning_rates(stage.g_lr, stage.d_lr)
        state.period_index = position.period.index
        log.info("%s from %s images (batch %d)", self.plan.describe(position), f"{state.images_shown:,}",
                 stage.batch_size)

    def _trained_networks(self, position: Position) -> tuple[nn.Module, nn.Module]:
        """G and D as this period trains them: themselves, or DDP over the parts the period uses."""
        if self._trained is None or self._trained[0] != position.period.index:
            fading = position.period.fading
            self._trained = (position.period.index,
                             wrap(self.state.generator, position.depth, fading, self.distribution),
                             wrap(self.state.discriminator, position.depth, fading, self.distribution))
        return self._trained[1], self._trained[2]

    # -------------------------------------------------------------------------------- the loop

    def end_images(self) -> int:
        """Real images shown when the run ends: the schedule's total, or --max_images if sooner."""
        total, limit = self.plan.total_images, self.settings.max_images
        return total if limit is None else min(total, limit)

    def run(self, hooks: Sequence[Hook] = ()) -> RunResult:
        """Train to the end of the schedule, `max_images` or a stop request, with the hooks around every
        step (see Hook for the order they are called in); every hook is closed on the way out."""
        state, plan, distribution = self.state, self.plan, self.distribution
        end, log_every = self.end_images(), self.settings.training.log_every
        meter = LossMeter()
        last_stage = plan.periods[state.period_index].stage if state.period_index >= 0 else None
        stopping = False
        clock, clock_images = time.perf_counter(), state.images_shown
        with backend_flags(self.settings.tf32, self.settings.cudnn_benchmark), closing(hooks):
            for hook in hooks:
                hook.on_start(self)
            while state.images_shown < end and not stopping:
                position = plan.position(state.images_shown)
                if last_stage is not None and position.period.stage != last_stage:
                    for hook in reversed(hooks):
                        hook.on_stage_end(self, plan.position(state.images_shown - 1))
                last_stage = position.period.stage
                before = state.images_shown
                meter.add(self.train_step(position))
                logged = None
                if state.step % log_every == 0 or state.images_shown >= min(position.period.end, end):
                    now = time.perf_counter()
                    speed = (state.images_shown - clock_images) / max(now - clock, 1e-9)
                    clock, clock_images = now, state.images_shown
                    logged = meter.read(distribution) | self._schedule_values(position, speed)
                    check_finite(logged, state.step, Path(self.settings.model_dir))  # the same values in every process
                if logged is not None or not distribution.enabled:  # all processes stop at the same step
                    stopping = any_rank(self.stop_requested, self.device, distribution)
                event = StepEvent(position, before, state.images_shown, logged)
                for hook in hooks:
                    hook.after_step(self, event)
            if stopping:
                reason = "interrupted"
            else:
                reason = "finished" if state.images_shown >= plan.total_images else "max_images"
            result = RunResult(Path(self.settings.run_dir), reason, state.images_shown, state.step)
            for hook in reversed(hooks):
                hook.on_end(self, result)
        return result

    def _schedule_values(self, position: Position, images_per_second: float) -> dict[str, float]:
        return {
            "schedule/alpha": position.alpha,
            "schedule/resolution": self.plan.stage(position).resolution,
            "schedule/stage": position.period.stage,
            "speed/images_per_s": images_per_second,
            "lr/G": self.state.g_optimizer.param_groups[0]["lr"],
            "lr/D": self.state.d_optimizer.param_groups[0]["lr"],
        } | ({} if self.state.augment is None else self.state.augment.logged())


class LossMeter:
    """Loss terms summed on the device between logging steps, each averaged over the steps it occurred in
    (a lazy regularizer's over the steps that ran it) and over the processes when read: the one host sync."""

    def __init__(self) -> None:
        self._sums: dict[str, torch.Tensor] = {}
        self._counts: dict[str, int] = {}

    def add(self, terms: Terms) -> None:
        for key, value in terms.items():
            self._sums[key] = self._sums[key] + value if key in self._sums else value
            self._counts[key] = self._counts.get(key, 0) + 1

    def read(self, distribution: Distribution) -> dict[str, float]:
        names = sorted(self._sums)
        if not names:
            return {}
        means = torch.stack([self._sums[name] / self._counts[name] for name in names])
        values = dict(zip(names, mean_over_ranks(means, distribution).tolist()))
        self._sums, self._counts = {}, {}
        return values


def _warn_of_untrained_stages(network: nn.Module, loaded: LoadReport | None, start: int | None) -> None:
    """--start_stage skips the stages below it: say so where no pretrained weights give them."""
    below = [size for size in network.spec.resolutions if start is not None and size < start]
    untrained = [size for size in below if loaded is None or size not in loaded.resolutions]
    if untrained:
        role = network.spec.role
        log.warning("--start_stage %d: the stages below %d×%d are not trained and no --%s_file gives them (%s): "
                    "the %s starts there from its initial weights", start, start, start, role,
                    ", ".join(f"{size}×{size}" for size in untrained), role)


def _subset(count: int, percentage: float) -> np.ndarray:
    """The indices of a fixed random `percentage` of `count` images (the same subset in every run and resume)."""
    if percentage >= 100:
        return np.arange(count)
    kept = max(1, round(count * percentage / 100))
    return torch.randperm(count, generator=torch.Generator().manual_seed(0))[:kept].sort().values.numpy()
