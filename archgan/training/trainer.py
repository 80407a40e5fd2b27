"""The one progressive training loop for every architecture.

Per step: `n_critic` discriminator steps on fresh real batches, one generator step, one EMA update.
The schedule (stage, fade-in, alpha, batch size, learning rates) follows the real images shown.
Losses stay on the device and are read back only every `log_every` steps, so the step never waits
on the host. Checkpoints hold everything needed to continue bit for bit on the same machine.
"""
from __future__ import annotations

import logging
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torchvision.utils import make_grid, save_image
from tqdm import tqdm

from ..data import RealImages, load_image_folder
from ..errors import ArchganError
from ..losses import LossContext, build_loss
from ..metrics import compute, generate_uint8, reals_uint8
from ..metrics.fid import inception_weights
from ..metrics.swd import SMALLEST_LEVEL as SWD_SMALLEST
from ..networks import Discriminator, Generator
from ..interop.pretrained import load_pretrained
from ..networks.weights import load_weights, read_weights, save_weights
from .distributed import Distribution, any_rank, barrier, check_in_sync, mean_over_ranks, shard_rows, wrap
from .checkpoint import PERIODIC_MARK, STATE_FILE, latest_checkpoint, load_state, prune, save_state, write_checkpoint
from .ema import ema_decay, make_ema, update_ema
from .logging import RunLog
from .run import RunSettings
from .schedule import Position, Schedule

log = logging.getLogger("archgan.train")
SAMPLE_GRID = 64


class SetupError(ArchganError, ValueError):
    """The run cannot start as configured; the message says what to change."""


@dataclass(frozen=True)
class RunResult:
    run_dir: Path
    reason: str  # 'finished', 'max_images' or 'interrupted'
    checkpoint: Path
    images_shown: int
    steps: int


class Trainer:
    def __init__(self, settings: RunSettings, resume_from: Path | None = None,
                 distribution: Distribution = Distribution()):
        self.settings = settings
        self.dist = distribution
        config = settings.training
        self.device = torch.device(settings.device)
        torch.manual_seed(settings.seed)  # the same initial weights in every process
        self.generator = Generator(settings.generator).to(self.device)
        self.discriminator = Discriminator(settings.discriminator).to(self.device)
        self.resolutions = settings.generator.resolutions
        if self.resolutions != settings.discriminator.resolutions[::-1]:
            raise SetupError(
                f"the generator's stages ({', '.join(map(str, self.resolutions))}) and the discriminator's "
                f"({', '.join(map(str, settings.discriminator.resolutions[::-1]))}) must have the same resolutions"
            )
        if settings.generator.image_channels != settings.discriminator.image_channels:
            raise SetupError(
                f"the generator makes {settings.generator.image_channels}-channel images but the discriminator "
                f"reads {settings.discriminator.image_channels}-channel ones: set the same image_channels in both"
            )
        if resume_from is None:
            for network, file in ((self.generator, settings.generator_file), (self.discriminator, settings.discriminator_file)):
                if file:
                    load_pretrained(network, file, strict=not settings.allow_partial)
        if settings.sync_bn and distribution.enabled:
            if self.device.type != "cuda":
                raise SetupError("--sync_bn synchronises batch norm across GPUs; it needs CUDA devices")
            self.generator = nn.SyncBatchNorm.convert_sync_batchnorm(self.generator)
            self.discriminator = nn.SyncBatchNorm.convert_sync_batchnorm(self.discriminator)
        if settings.channels_last:
            self.generator = self.generator.to(memory_format=torch.channels_last)
            self.discriminator = self.discriminator.to(memory_format=torch.channels_last)
        if settings.tf32:
            torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = settings.cudnn_benchmark
        self.generator_ema = make_ema(self.generator) if config.ema_beta > 0 else None
        torch.manual_seed(settings.seed + distribution.rank)  # layer randomness (dropout) differs per process

        if not distribution.is_main:
            barrier(distribution)  # the main process decodes the folder into the cache first
        cache = load_image_folder(
            settings.images_dir, self.resolutions[-1], settings.generator.image_channels,
            Path(settings.cache_dir) if settings.cache_dir else None, settings.num_workers,
        )
        if distribution.is_main:
            barrier(distribution)
        self.skipped_images = cache.skipped
        images = _subset(cache.images, settings.data_percentage)
        self.real_images = images  # uint8, for the metrics
        if "fid" in config.metrics:
            inception_weights(settings.inception_weights)  # a missing file stops the run before it starts
        self.data = RealImages(images, self.device, settings.seed, config.mirror)
        self.dataset_size = len(self.data)
        self.schedule = Schedule(config, self.resolutions, self._images_per_stage())
        for stage, batch in enumerate(self.schedule.batch_sizes):
            self._check_batch(stage, batch)
        self.loss = build_loss(config.loss)
        self.noise = torch.Generator(device=self.device).manual_seed(settings.seed + 2)
        self.fixed_latents = torch.randn(
            SAMPLE_GRID, settings.generator.latent_size, generator=torch.Generator().manual_seed(settings.seed + 3)
        ).to(self.device)

        self.run_dir = Path(settings.run_dir)
        self.sample_dir, self.model_dir = Path(settings.sample_dir), Path(settings.model_dir)
        self.sample_interval = max(1, round(self.dataset_size / settings.feedback_factor))
        self.checkpoint_interval = max(1, round(self.dataset_size * settings.checkpoint_factor))
        self.step = 0
        self.images_shown = 0
        self.phase_index = -1
        self.g_optimizer: torch.optim.Optimizer | None = None
        self.d_optimizer: torch.optim.Optimizer | None = None
        self._sums: dict[str, torch.Tensor] = {}
        self._sum_steps = 0
        self._stop_signal: int | None = None
        self._stopping = False
        self._trained: tuple[int, nn.Module, nn.Module] | None = None  # (phase, G, D) as trained this phase
        if resume_from is not None:
            self._restore(resume_from)

    # ------------------------------------------------------------------------------------ setup

    def _images_per_stage(self) -> int | None:
        if self.settings.stage_kimg is not None:
            return round(self.settings.stage_kimg * 1000)
        if self.settings.stage_epochs is not None:
            return round(self.settings.stage_epochs * self.dataset_size)
        return None

    def _stddev_group(self) -> int:
        spec = self.settings.discriminator
        groups = [layer.options["group_size"] for s in spec.stages for layer in s.layers if layer.type == "minibatch_stddev"]
        return max(groups, default=1)

    def _check_batch(self, stage: int, batch: int) -> None:
        """Batches the processes or the minibatch-stddev groups cannot split are refused before training."""
        size = f"{self.resolutions[stage]}×{self.resolutions[stage]}"
        world = self.dist.world_size
        if batch % world:
            raise SetupError(f"the global batch size {batch} of the {size} stage does not divide among {world} "
                             f"processes: use a multiple of {world}")
        group = min(self._stddev_group(), batch // world)
        if (batch // world) % group:
            raise SetupError(f"batch size {batch} of the {size} stage cannot be split into minibatch_stddev groups "
                             f"of {group}" + (f" on each of {world} processes" if world > 1 else "")
                             + f": use a multiple of {group * world}")

    def _make_optimizers(self, stage: int) -> None:
        config = self.settings.training
        betas = tuple(config.adam_betas)
        fused = self.device.type == "cuda"
        self.g_optimizer = torch.optim.Adam(self.generator.parameters(), self.schedule.g_lrs[stage], betas,
                                            config.adam_eps, fused=fused)
        self.d_optimizer = torch.optim.Adam(self.discriminator.parameters(), self.schedule.d_lrs[stage], betas,
                                            config.adam_eps, fused=fused)

    def _enter_phase(self, position: Position) -> None:
        phase = position.phase
        if self.phase_index >= 0 and self.schedule.phases[self.phase_index].stage != phase.stage:
            self._end_of_stage()
        if self.g_optimizer is None or self.settings.training.reset_optimizers_on_grow:
            self._make_optimizers(phase.stage)
        for optimizer, rate in ((self.g_optimizer, self.schedule.g_lrs), (self.d_optimizer, self.schedule.d_lrs)):
            for group in optimizer.param_groups:
                group["lr"] = rate[phase.stage]
        self.phase_index = phase.index
        log.info("%s from %s images (batch %d)", self.schedule.describe(position), f"{self.images_shown:,}",
                 self.schedule.batch_sizes[phase.stage])

    # ------------------------------------------------------------------------------------- step

    def _accumulate(self, prefix: str, terms: dict[str, torch.Tensor]) -> None:
        for name, value in terms.items():
            key = f"loss/{prefix}" if name == "loss" else f"loss/{prefix}_{name}"
            value = value.detach().float()
            self._sums[key] = self._sums[key] + value if key in self._sums else value

    def _autocast(self) -> torch.autocast:
        """bf16 forward passes with --amp (the gradient penalty's norm and every loss stay float32)."""
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.settings.amp)

    def _latents(self, batch: int, rows: torch.Tensor | None) -> torch.Tensor:
        """This process's rows of a global batch of latents (every process draws the whole batch)."""
        z = torch.randn(batch, self.generator.latent_size, device=self.device, generator=self.noise)
        return z if rows is None else z[rows.to(self.device)]

    def _train_step(self, position: Position) -> int:
        """One generator step after n_critic discriminator steps; returns the real images used."""
        depth, alpha = position.depth, position.alpha
        stage = position.phase.stage
        resolution, batch = self.resolutions[stage], self.schedule.batch_sizes[stage]
        rows = shard_rows(batch, self.dist, self._stddev_group())
        context = LossContext(resolution, self.resolutions[-1], self.step, self.noise, rows, batch)
        self.discriminator.requires_grad_(True)
        if self._trained is None or self._trained[0] != position.phase.index:
            fading = position.phase.fading
            self._trained = (position.phase.index, wrap(self.generator, depth, fading, self.dist),
                             wrap(self.discriminator, depth, fading, self.dist))
        _, generator, discriminator = self._trained
        critic = lambda images: discriminator(images, depth, alpha).float()  # scores and losses in float32

        for _ in range(self.settings.training.n_critic):
            real = self.data.next(batch, resolution, alpha, rows)
            if self.settings.channels_last:
                real = real.contiguous(memory_format=torch.channels_last)
            with self._autocast():
                with torch.no_grad():
                    fake = self.generator(self._latents(batch, rows), depth, alpha).float()
                terms = self.loss.discriminator(critic, real, fake, context)
            self.d_optimizer.zero_grad(set_to_none=True)
            terms["loss"].backward()
            self.d_optimizer.step()
            self._accumulate("D", terms)
        self.discriminator.requires_grad_(False)

        # the generator step scores with D itself: D's parameters take no gradient here
        with self._autocast():
            fake = generator(self._latents(batch, rows), depth, alpha).float()
            terms = self.loss.generator(lambda images: self.discriminator(images, depth, alpha).float(), real, fake,
                                        context)
        self.g_optimizer.zero_grad(set_to_none=True)
        terms["loss"].backward()
        self.g_optimizer.step()
        self._accumulate("G", terms)
        if self.generator_ema is not None:
            config = self.settings.training
            update_ema(self.generator_ema, self.generator, ema_decay(config.ema_beta, self.step, config.ema_warmup))
        self._sum_steps += 1
        self.step += 1
        if self.settings.check_sync:
            check_in_sync([self.generator, self.discriminator], self.device, self.dist, self.step)
        return batch * self.settings.training.n_critic

    # -------------------------------------------------------------------------------- the loop

    def run(self) -> RunResult:
        settings, main = self.settings, self.dist.is_main
        end = self.schedule.total_images if settings.max_images is None else min(self.schedule.total_images, settings.max_images)
        if main:  # only the main process writes anything
            for folder in (self.run_dir, self.sample_dir, self.model_dir):
                folder.mkdir(parents=True, exist_ok=True)
            self.run_log = RunLog(self.run_dir / "logs", self.run_dir / "plots")
            settings.save(self.run_dir / "logs")
            if self.skipped_images:
                log.warning("%d unreadable image files skipped: %s", len(self.skipped_images),
                            "; ".join(f"{name} ({why})" for name, why in self.skipped_images))
            processes = f" in {self.dist.world_size} processes" if self.dist.enabled else ""
            log.info("training on %d images from %s, %s%s, until %s images", self.dataset_size, settings.images_dir,
                     self.device, processes, f"{end:,}")
        handlers = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        progress = tqdm(total=end, initial=self.images_shown, unit="img", unit_scale=True,
                        disable=None if main else True, dynamic_ncols=True, smoothing=0.1)
        clock, clock_images = time.perf_counter(), self.images_shown
        try:
            while self.images_shown < end and not self._stopping:
                position = self.schedule.position(self.images_shown)
                if position.phase.index != self.phase_index:
                    self._enter_phase(position)
                before = self.images_shown
                self.images_shown += self._train_step(position)
                progress.update(self.images_shown - before)
                logging_step = self.step % settings.training.log_every == 0 or self.images_shown >= min(position.phase.end, end)
                if logging_step:
                    elapsed = time.perf_counter() - clock
                    values = self._log(position, (self.images_shown - clock_images) / max(elapsed, 1e-9))
                    clock, clock_images = time.perf_counter(), self.images_shown
                    progress.set_postfix_str(
                        f"{self.schedule.describe(position)} α={position.alpha:.2f} "
                        f"D={values['loss/D']:.3f} G={values['loss/G']:.3f} {values['speed/images_per_s']:.0f} img/s"
                    )
                if logging_step or not self.dist.enabled:  # all processes stop at the same step
                    self._stopping = any_rank(self._stop_signal is not None, self.device, self.dist)
                if before // self.sample_interval != self.images_shown // self.sample_interval:
                    self._samples(position)
                if before // self.checkpoint_interval != self.images_shown // self.checkpoint_interval:
                    self._checkpoint(periodic=True)
        finally:
            progress.close()
            for number, handler in handlers.items():
                signal.signal(number, handler)
        position = self.schedule.position(self.images_shown)
        if self._stopping:
            reason = "interrupted"
            log.info("stopped by a signal at %s images", f"{self.images_shown:,}")
        else:
            reason = "finished" if self.images_shown >= self.schedule.total_images else "max_images"
            self._samples(position, final=True)
            self._measure(position)
        checkpoint = self._checkpoint(periodic=False)
        if main:
            self.run_log.plot_losses()
            self.run_log.plot_metrics()
            self.run_log.close()
        log.info("%s after %d steps and %s images; checkpoint %s", reason, self.step, f"{self.images_shown:,}", checkpoint)
        return RunResult(self.run_dir, reason, checkpoint, self.images_shown, self.step)

    def _on_signal(self, number: int, frame) -> None:
        self._stop_signal = number  # the loop finishes its step, writes a checkpoint and returns

    def _end_of_stage(self) -> None:
        if not self.dist.is_main:
            return
        position = self.schedule.position(self.images_shown - 1)
        self._samples(position)
        self._measure(position)
        self.run_log.plot_losses()

    def _measure(self, position: Position) -> None:
        """The training file's metrics at this stage's resolution: the (averaged) generator's samples
        against the cached real images. They draw from their own seeded generators, so measuring never
        changes the training's random streams."""
        config, resolution = self.settings.training, self.resolutions[position.phase.stage]
        names = [n for n in config.metrics if n != "swd" or resolution >= SWD_SMALLEST]
        if not names or not self.dist.is_main:
            return
        count = min(config.metrics_images, self.dataset_size)
        network = self.generator_ema if self.generator_ema is not None else self.generator
        was_training = network.training
        network.eval()
        fake = generate_uint8(network, count, position.depth, position.alpha, self.device, seed=self.settings.seed)
        network.train(was_training)
        real = reals_uint8(self.real_images, resolution, count, seed=self.settings.seed)
        values = compute(names, real, fake, device=self.device, seed=self.settings.seed,
                         inception_weights=self.settings.inception_weights)
        self.run_log.metrics(values, self.step, self.images_shown, resolution)
        log.info("metrics at %d×%d, %s images: %s", resolution, resolution, f"{self.images_shown:,}",
                 ", ".join(f"{k} {v:.4g}" for k, v in values.items()))

    def _log(self, position: Position, images_per_second: float) -> dict[str, float]:
        """Losses averaged over the steps since the last log (and over the processes): the one host sync."""
        names = sorted(self._sums)
        means = mean_over_ranks(torch.stack([self._sums[n] for n in names]) / self._sum_steps, self.dist).tolist()
        self._sums, self._sum_steps = {}, 0
        values = dict(zip(names, means))
        values |= {
            "schedule/alpha": position.alpha,
            "schedule/resolution": self.resolutions[position.phase.stage],
            "schedule/stage": position.phase.stage,
            "speed/images_per_s": images_per_second,
            "lr/G": self.g_optimizer.param_groups[0]["lr"],
            "lr/D": self.d_optimizer.param_groups[0]["lr"],
        }
        if self.dist.is_main:
            self.run_log.scalars(values | {"resolution": values["schedule/resolution"]}, self.step, self.images_shown)
        return values

    @torch.no_grad()
    def _samples(self, position: Position, final: bool = False) -> None:
        """A grid from the fixed latents (the averaged generator when configured), named by stage,
        phase and images shown."""
        if not self.dist.is_main:
            return
        ema = self.generator_ema is not None and self.settings.training.samples_from_ema
        network = self.generator_ema if ema else self.generator
        was_training = network.training
        network.eval()
        images = network(self.fixed_latents, position.depth, position.alpha).clamp(-1, 1)
        network.train(was_training)
        size = self.resolutions[position.phase.stage]
        phase = "fade" if position.phase.fading else "stable"
        name = f"{size}x{size}-{phase}-{self.images_shown:09d}img" + ("-final" if final else "")
        path = self.sample_dir / f"{name}.png"
        save_image(images, path, nrow=8, normalize=True, value_range=(-1, 1))
        self.run_log.image("samples", make_grid(images, nrow=8, normalize=True, value_range=(-1, 1)), self.images_shown)

    # ------------------------------------------------------------------------------ checkpoints

    def _checkpoint(self, periodic: bool) -> Path:
        """Written by the main process; the others return where it is."""
        if not self.dist.is_main:
            return self.model_dir / f"step-{self.step:09d}"

        def write(folder: Path) -> None:
            save_weights(self.generator, folder / "generator.safetensors")
            save_weights(self.discriminator, folder / "discriminator.safetensors")
            if self.generator_ema is not None:
                save_weights(self.generator_ema, folder / "generator_ema.safetensors")
            save_state(self._state(), folder / STATE_FILE)
            self.settings.save(folder)
            if periodic:
                (folder / PERIODIC_MARK).touch()

        path = write_checkpoint(self.model_dir, self.step, write)
        prune(self.model_dir)
        return path

    def _state(self) -> dict:
        rng = {"torch": torch.get_rng_state(), "noise": self.noise.get_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        position = self.schedule.position(self.images_shown)
        return {
            "step": self.step,
            "images_shown": self.images_shown,
            "phase_index": self.phase_index,
            "depth": position.depth,  # where the run stands, for generating from it
            "alpha": position.alpha,
            "g_optimizer": self.g_optimizer.state_dict() if self.g_optimizer else None,
            "d_optimizer": self.d_optimizer.state_dict() if self.d_optimizer else None,
            "rng": rng,
            "data": self.data.state_dict(),
        }

    def _restore(self, checkpoint: Path) -> None:
        for network, name in ((self.generator, "generator"), (self.discriminator, "discriminator"),
                              (self.generator_ema, "generator_ema")):
            if network is not None:
                load_weights(network, read_weights(checkpoint / f"{name}.safetensors")[0], str(checkpoint / name))
        state = load_state(checkpoint / STATE_FILE)
        self.step, self.images_shown, self.phase_index = state["step"], state["images_shown"], state["phase_index"]
        if state["g_optimizer"] is not None:
            self._make_optimizers(self.schedule.phases[self.phase_index].stage)
            self.g_optimizer.load_state_dict(state["g_optimizer"])
            self.d_optimizer.load_state_dict(state["d_optimizer"])
        torch.set_rng_state(state["rng"]["torch"])
        self.noise.set_state(state["rng"]["noise"])
        if "cuda" in state["rng"] and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["rng"]["cuda"], self.device)
        self.data.load_state_dict(state["data"])
        log.info("resumed from %s at step %d, %s images", checkpoint, self.step, f"{self.images_shown:,}")


def _subset(images: np.ndarray, percentage: float) -> np.ndarray:
    """A fixed random `percentage` of the images (the same subset in every run and resume)."""
    if percentage >= 100:
        return images
    count = max(1, round(len(images) * percentage / 100))
    keep = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))[:count].sort().values
    return images[keep.numpy()]


def resume_checkpoint(run_dir: Path) -> Path:
    """The newest complete checkpoint of a run folder (its model_dir may have been moved by --model_dir)."""
    saved = run_dir / "logs" / "run.json"
    folder = Path(RunSettings.load(saved.parent).model_dir) if saved.is_file() else run_dir / "checkpoints"
    found = latest_checkpoint(folder)
    if found is None:
        raise SetupError(f"{run_dir}: no complete checkpoint in {folder} to resume from")
    return found
