"""What happens around the steps of a run: the Hook interface and the hooks `archgan train` uses —
the progress bar, the run's logs (TensorBoard, metrics.jsonl, train.log, plots), sample grids, metrics at
the end of every stage, and checkpoints. Only the main process writes; the loop is in trainer.py."""
from __future__ import annotations

import contextlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import torch
from torchvision.utils import save_image
from tqdm import tqdm

from ..data.folder import folder_listing
from ..errors import DatasetError, SetupError
from ..metrics import metrics_at
from ..metrics.measure import compute, generate_uint8, reals_uint8, sample_indices
from ..networks.images import final_image
from ..sampling import image_grid, scales_grid
from .checkpoint import recover_interrupted_writes, save_checkpoint
from .files import DATASET_FILE, LOGS, PLOTS
from .lock import RunLock
from .logging import RunLog
from .plan import Position

if TYPE_CHECKING:
    from .trainer import Trainer

log = logging.getLogger("archgan.train")
SAMPLE_GRID = 64
GRID_COLUMNS = 8
GRID_CLASSES = 16
"""A class-conditional generator's grid shows one row per class, at most this many (classes 0 … 15)."""
SMALL_DATASET_BATCHES = 4
"""A dataset smaller than this many of the largest batches is warned about when a run starts."""


@dataclass(frozen=True)
class RunResult:
    run_dir: Path
    reason: str  # 'finished', 'max_images' or 'interrupted'
    images_shown: int
    steps: int


@dataclass(frozen=True)
class StepEvent:
    """What the hooks learn after each step; `logged` holds the values read back on logging steps."""

    position: Position
    images_before: int
    images_after: int
    logged: dict[str, float] | None

    def crossed(self, interval: int) -> bool:
        """Whether this step passed a multiple of `interval` images."""
        return self.images_before // interval != self.images_after // interval


class Hook:
    """Something done around the steps of a run. Every method does nothing unless a hook overrides it.
    `Trainer.run` calls on_start and after_step in the order of its hook list, and on_stage_end, on_end
    and close in the reverse order (as nested contexts): a hook listed first, such as the run's logs,
    is opened before the others and sees what they wrote at the end. `close` is called on every way
    out of the run, errors included."""

    def on_start(self, trainer: Trainer) -> None:
        """Before the first step."""

    def after_step(self, trainer: Trainer, event: StepEvent) -> None:
        """After every step."""

    def on_stage_end(self, trainer: Trainer, position: Position) -> None:
        """When the schedule moves to the next stage; `position` is the last one of the stage that ended."""

    def on_end(self, trainer: Trainer, result: RunResult) -> None:
        """After the last step (finished, max_images or interrupted), not after an error."""

    def close(self) -> None:
        """Release files and writers."""


@contextlib.contextmanager
def closing(hooks: Sequence[Hook]) -> Iterator[None]:
    """Close every hook on the way out, in reverse order, whatever happens."""
    with contextlib.ExitStack() as stack:
        for hook in hooks:
            stack.callback(hook.close)
        yield


class ProgressBar(Hook):
    """One tqdm bar for the run: images shown, images/s, time left, stage, alpha and losses; quiet when
    the output is not a terminal."""

    def __init__(self) -> None:
        self.bar: tqdm | None = None

    def on_start(self, trainer: Trainer) -> None:
        self.bar = tqdm(total=trainer.end_images(), initial=trainer.state.images_shown, unit="img", unit_scale=True,
                        disable=None, dynamic_ncols=True, smoothing=0.1)

    def after_step(self, trainer: Trainer, event: StepEvent) -> None:
        self.bar.update(event.images_after - event.images_before)
        if event.logged is not None:
            values = event.logged
            self.bar.set_postfix_str(  # images/s: tqdm's own rate, beside the count
                f"{trainer.plan.describe(event.position)} α={event.position.alpha:.2f} "
                f"D={values.get('loss/D', float('nan')):.3f} G={values.get('loss/G', float('nan')):.3f}"
            )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class RunOutputs(Hook):
    """logs/ and plots/ of the run: the settings, TensorBoard, metrics.jsonl and train.log (RunLog), the
    loss plot at every stage end and at the end. The other hooks write images and metrics through it."""

    def __init__(self) -> None:
        self.log: RunLog | None = None

    def on_start(self, trainer: Trainer) -> None:
        settings = trainer.settings
        run_dir = Path(settings.run_dir)
        for folder in (run_dir, Path(settings.sample_dir), Path(settings.model_dir)):
            folder.mkdir(parents=True, exist_ok=True)
        state = trainer.state
        self.log = RunLog(run_dir / LOGS, run_dir / PLOTS,
                          (state.step, state.images_shown) if trainer.resumed_from is not None else None)
        settings.save(run_dir / LOGS)
        if trainer.skipped_images:
            log.warning("%d unreadable image files skipped: %s", len(trainer.skipped_images),
                        "; ".join(f"{name} ({why})" for name, why in trainer.skipped_images))
        largest = max(stage.batch_size for stage in trainer.plan.stages)
        if len(trainer.real_images) < SMALL_DATASET_BATCHES * largest:
            log.warning("only %d training images, fewer than %d batches of %d: the discriminator will soon know "
                        "them by heart; use more images (or mirror: true) for a GAN that generalizes",
                        len(trainer.real_images), SMALL_DATASET_BATCHES, largest)
        processes = f" in {trainer.distribution.world_size} processes" if trainer.distribution.enabled else ""
        log.info("training on %d images from %s, %s%s, until %s images", len(trainer.real_images),
                 settings.images_dir, trainer.device, processes, f"{trainer.end_images():,}")

    def after_step(self, trainer: Trainer, event: StepEvent) -> None:
        if event.logged is not None:
            values = event.logged | {"resolution": event.logged["schedule/resolution"]}
            self.log.scalars(values, trainer.state.step, trainer.state.images_shown)

    def on_stage_end(self, trainer: Trainer, position: Position) -> None:
        self.log.plot_losses()

    def on_end(self, trainer: Trainer, result: RunResult) -> None:
        self.log.plot_losses()
        self.log.plot_metrics()
        if result.reason == "interrupted":
            log.info("stopped by a signal at %s images", f"{result.images_shown:,}")
        log.info("%s after %d steps and %s images", result.reason, result.steps, f"{result.images_shown:,}")

    def close(self) -> None:
        if self.log is not None:
            self.log.close()


def _sampler(trainer: Trainer, averaged: bool) -> torch.nn.Module:
    state = trainer.state
    return state.generator_ema if averaged and state.generator_ema is not None else state.generator


class SampleGrids(Hook):
    """Grids from fixed latents (the averaged generator when the training file says so), named by stage,
    period and images shown: `feedback_factor` times per epoch, at the end of every stage and at the end."""

    def __init__(self, outputs: RunOutputs):
        self.outputs = outputs

    def on_start(self, trainer: Trainer) -> None:
        """Fixed latents; for a class-conditional generator one row per class (up to GRID_CLASSES), the
        same latents in every row, so that a column shows one latent in every class."""
        settings = trainer.settings
        self.interval = max(1, round(len(trainer.real_images) / settings.feedback_factor))
        classes = min(settings.generator.classes or 0, GRID_CLASSES)
        count = GRID_COLUMNS if classes else SAMPLE_GRID
        latents = torch.randn(count, settings.generator.latent_size, generator=torch.Generator().manual_seed(settings.seed + 3))
        self.latents = (latents.repeat(classes, 1) if classes else latents).to(trainer.device)
        self.inputs = {"label": torch.arange(classes).repeat_interleave(count).to(trainer.device)} if classes else {}

    def after_step(self, trainer: Trainer, event: StepEvent) -> None:
        if event.crossed(self.interval):
            self.save(trainer, event.position)

    def on_stage_end(self, trainer: Trainer, position: Position) -> None:
        self.save(trainer, position)

    def on_end(self, trainer: Trainer, result: RunResult) -> None:
        if result.reason != "interrupted":
            self.save(trainer, trainer.plan.position(result.images_shown), final=True)

    @torch.no_grad()
    def save(self, trainer: Trainer, position: Position, final: bool = False) -> None:
        network = _sampler(trainer, trainer.settings.training.samples_from_ema)
        was_training = network.training
        network.eval()
        images = network(self.latents, position.depth, position.alpha, **self.inputs)
        network.train(was_training)
        size = trainer.plan.stage(position).resolution
        period = "fade" if position.period.fading else "stable"
        name = f"{size}x{size}-{period}-{trainer.state.images_shown:09d}img" + ("-final" if final else "")
        grid = image_grid((final_image(images).clamp(-1, 1) + 1) / 2, nrow=GRID_COLUMNS)
        save_image(grid, Path(trainer.settings.sample_dir) / f"{name}.png")
        self.outputs.log.image("samples", grid, trainer.state.images_shown)
        if isinstance(images, list):  # a generator of every scale: its first samples at each of them too
            scales = scales_grid(images)
            save_image(scales, Path(trainer.settings.sample_dir) / f"{name}-scales.png")
            self.outputs.log.image("samples/scales", scales, trainer.state.images_shown)


class StageMetrics(Hook):
    """The training file's metrics at the end of every stage and of training, at the stage's resolution:
    the (averaged) generator's samples against the cached real images. They draw from their own seeded
    generators, so measuring never changes the training's random streams."""

    def __init__(self, outputs: RunOutputs):
        self.outputs = outputs

    def on_stage_end(self, trainer: Trainer, position: Position) -> None:
        self.measure(trainer, position)

    def on_end(self, trainer: Trainer, result: RunResult) -> None:
        if result.reason != "interrupted":
            self.measure(trainer, trainer.plan.position(result.images_shown))

    def measure(self, trainer: Trainer, position: Position) -> None:
        settings, resolution = trainer.settings, trainer.plan.stage(position).resolution
        names = metrics_at(settings.training.metrics, resolution)
        if not names:
            return
        count = min(settings.training.metrics_images, len(trainer.real_images))
        network = _sampler(trainer, averaged=True)
        was_training = network.training
        network.eval()
        picked = sample_indices(len(trainer.real_images), count, settings.seed)
        labels = None if trainer.labels is None else torch.from_numpy(trainer.labels.of_image[picked])
        fake = generate_uint8(network, count, position.depth, position.alpha, trainer.device, seed=settings.seed,
                              labels=labels)  # the classes of the real images they are compared with
        network.train(was_training)
        real = reals_uint8(trainer.real_images, resolution, count, seed=settings.seed)
        values = compute(names, real, fake, device=trainer.device, seed=settings.seed,
                         inception_weights=settings.inception_weights)
        self.outputs.log.metrics(values, trainer.state.step, trainer.state.images_shown, resolution)
        log.info("metrics at %d×%d, %s images: %s", resolution, resolution, f"{trainer.state.images_shown:,}",
                 ", ".join(f"{k} {v:.4g}" for k, v in values.items()))


class RunFolder(Hook):
    """The run folder kept safe while this run writes it: locked (training/lock.py: a second run on it is
    refused), what killed checkpoint writes left cleaned up, and on a resume the image folder checked.

    A resumed run refuses an image folder that changed since its checkpoint (images added, removed, renamed
    or resized) rather than letting new images join: the checkpoint's data order indexes the folder as it
    was, and a resume continues that order exactly. New images are for a new run that starts from the
    checkpoint's weights (--generator_file/--discriminator_file)."""

    def __init__(self) -> None:
        self.lock: RunLock | None = None
        self.dataset: dict[str, Any] | None = None  # the listing (and class names) every checkpoint records

    def on_start(self, trainer: Trainer) -> None:
        settings = trainer.settings
        self.lock = RunLock(Path(settings.run_dir))
        self.lock.acquire()
        recover_interrupted_writes(Path(settings.model_dir))
        self.dataset = folder_listing(settings.images_dir)
        if trainer.labels is not None:  # a class-conditional run: label k means the same class on resume
            self.dataset["classes"] = list(trainer.labels.names)
        if trainer.resumed_from is not None:
            _check_same_images(Path(trainer.resumed_from), settings.images_dir, self.dataset)

    def close(self) -> None:
        if self.lock is not None:
            self.lock.release()


def _check_same_images(checkpoint: Path, images_dir: str, now: dict[str, Any]) -> None:
    file = checkpoint / DATASET_FILE
    if not file.is_file():  # written before 2026-12: nothing to compare with
        return
    try:
        saved = json.loads(file.read_text())
        count = int(saved["image_files"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise SetupError(f"{file}: not the listing of an image folder ({type(error).__name__}: {error}); the "
                         f"checkpoint is damaged: delete {checkpoint} to resume from the one before it") from None
    if saved.get("classes") != now.get("classes"):
        raise DatasetError(
            f"{images_dir}: the run was trained with the classes {saved.get('classes')} (in {file}) and would now "
            f"get {now.get('classes')}; a label means the same class all through a run: give the labels it "
            "started with (the same class folders, or the same --labels file)")
    if saved != now:
        change = f"{count} image files then, {now['image_files']} now" if count != now["image_files"] \
            else f"the same {count} image files, but renamed or rewritten"
        raise DatasetError(
            f"{images_dir}: the image folder changed since {checkpoint} was written ({change}); its data order "
            "continues exactly, so a resumed run trains on the images it started with. Put the folder back as "
            "it was, or train on the new images in a new run from this one's weights: "
            f"--generator_file {checkpoint} --discriminator_file {checkpoint}")


class Checkpoints(Hook):
    """A checkpoint every `checkpoint_factor` epochs (kept), and one at the end, also when interrupted
    (the newest is kept; older ones are pruned). Each records the image folder's listing (`folder`)."""

    def __init__(self, folder: RunFolder) -> None:
        self.folder = folder
        self.last: Path | None = None

    def on_start(self, trainer: Trainer) -> None:
        self.interval = max(1, round(len(trainer.real_images) * trainer.settings.checkpoint_factor))

    def after_step(self, trainer: Trainer, event: StepEvent) -> None:
        if event.crossed(self.interval):
            self.save(trainer, event.position, periodic=True)

    def on_end(self, trainer: Trainer, result: RunResult) -> None:
        self.save(trainer, trainer.plan.position(result.images_shown), periodic=False)
        log.info("checkpoint %s", self.last)

    def save(self, trainer: Trainer, position: Position, periodic: bool) -> None:
        self.last = save_checkpoint(Path(trainer.settings.model_dir), trainer.state, trainer.settings, position, periodic,
                                    self.folder.dataset)


def default_hooks(trainer: Trainer) -> list[Hook]:
    """What `archgan train` runs with: everything on the main process, nothing on the others."""
    if not trainer.distribution.is_main:
        return []
    folder, outputs = RunFolder(), RunOutputs()
    return [folder, outputs, ProgressBar(), Checkpoints(folder), StageMetrics(outputs), SampleGrids(outputs)]
