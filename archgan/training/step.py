"""One training step: the phases due at this step (training/phases.py), run in order on a StepContext
that holds what they read. `train_step` is the public entry; `Trainer.train_step` builds the context
where the schedule stands, and the loop, the benchmarks and users all call that."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING, Callable, Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..layers.modules.noise import Draws
from ..losses.objectives import Loss, LossContext
from ..networks.images import Images, each_image, image_list, real_pyramid
from ..networks.randomness import drawing_from
from ..networks.styles import StyleMixing
from .distributed import Distribution, shard_rows
from .plan import Position, StageSettings, split_rows
from .speed import CompiledPasses
from .state import TrainState

if TYPE_CHECKING:
    from .phases import Phase

Terms = dict[str, torch.Tensor]


@dataclass(frozen=True)
class MicroBatch:
    """One of the micro-batches a step's batch is computed in (the whole batch without accumulation)."""

    share: float  # its fraction of this process's batch: its loss is scaled by it, so gradients sum to the whole's
    index: torch.Tensor | None  # its rows of this process's batch (None: all of them)
    loss_context: LossContext  # draws the loss's random numbers for these rows
    last: bool

    def take(self, batch: Images) -> Images:
        return batch if self.index is None else each_image(batch, lambda rows: rows[self.index.to(rows.device)])

    def scaled(self, loss: torch.Tensor) -> torch.Tensor:
        return loss if self.share == 1 else loss * self.share


def accumulated(parts: list[tuple[MicroBatch, Terms]]) -> Terms:
    """The terms of the whole batch from those of its micro-batches (each a mean over its rows)."""
    if len(parts) == 1:
        return parts[0][1]
    return {name: sum(micro.share * terms[name].detach() for micro, terms in parts) for name in parts[0][1]}


@dataclass
class StepContext:
    """What the phases of one step read and share. `generator` and `discriminator` are the networks
    trained this period (wrapped by DistributedDataParallel with several processes); the state's own
    discriminator scores the generator's step, which takes no gradient for D."""

    state: TrainState
    position: Position
    stage: StageSettings
    loss: Loss
    loss_context: LossContext
    generator: nn.Module
    discriminator: nn.Module
    rows: torch.Tensor | None = None  # this process's rows of the global batch (None: one process)
    batch_group: int = 1  # the discriminator's minibatch-stddev group, kept whole in every micro-batch
    amp: bool = False
    channels_last: bool = False
    real: Images | None = None  # the last real batch drawn (one per stage for images: all); regularizers reuse it
    labels: torch.Tensor | None = None  # its class labels (class-conditional networks), which the fakes get too
    distribution: Distribution = Distribution()  # this process's place among the processes
    style_mixing_probability: float = 0.0  # the training file's style_mixing
    generator_latents: torch.Tensor | None = None  # the generator step's (a mapping network's average follows them)
    real_images_drawn: int = 0
    compiled: CompiledPasses | None = None  # --compile: the compiled passes of the networks

    def fast(self, network: nn.Module) -> Callable:
        """`network`'s forward pass as the step runs it: compiled with --compile, else the network itself."""
        return network if self.compiled is None else self.compiled(network)

    def autocast(self) -> contextlib.AbstractContextManager:
        """bf16 forward passes with --amp (the gradient penalty's norm and every loss stay float32)."""
        return torch.autocast(self.state.device.type, dtype=torch.bfloat16, enabled=self.amp)

    def draw_real(self) -> Images:
        """The next real batch (this process's rows of it), faded as the schedule says, at every stage's size
        for a discriminator that reads one image per stage; counted as shown. Its labels (for class-conditional
        networks) become `labels`."""
        real, labels = self.state.data.next(self.stage.batch_size, self.stage.resolution, self.position.alpha, self.rows)
        if self.state.discriminator.spec.images == "all":
            real = real_pyramid(real, self.position.depth)
        if self.channels_last:
            real = each_image(real, lambda image: image.contiguous(memory_format=torch.channels_last))
        self.real, self.labels = real, labels
        self.real_images_drawn += self.stage.batch_size
        return real

    def inputs(self, micro: MicroBatch) -> dict[str, torch.Tensor]:
        """The networks' named inputs for a micro-batch: the real batch's labels, which the generated images
        of the step are made for too, so that every loss compares real and fake of the same classes and
        the generator learns the data's class frequencies."""
        return {} if self.labels is None else {"label": micro.take(self.labels)}

    def generate(self, network: nn.Module, latents: torch.Tensor, micro: MicroBatch,
                 mixing: StyleMixing | None = None) -> Images:
        """Images from `network` (G, the trained wrapper of it, or a compiled pass of either) for the
        micro-batch's latents, in float32."""
        mixed = {} if mixing is None else {"mixing": StyleMixing(micro.take(mixing.latents), mixing.cutoff)}
        images = network(micro.take(latents), self.position.depth, self.position.alpha, **mixed, **self.inputs(micro))
        return each_image(images, lambda image: image.float())

    def style_mixing(self) -> StyleMixing | None:
        """With probability `style_mixing_probability`, the styles from a crossover on come from a second
        latent (StyleGAN's mixing regularization): the crossover is drawn among the style layers this step
        runs (1 ≤ cutoff < their count), one per step; second latents and draws come from the state's noise
        generator for the global batch, so any number of processes draws what one would."""
        count = self.state.generator.plan(self.position.depth, self.position.alpha).styles
        if self.style_mixing_probability == 0 or count < 2:
            return None
        other, noise, device = self.latents(), self.state.noise, self.state.device
        cutoff = torch.randint(1, count, (), device=device, generator=noise)
        mixed = torch.rand((), device=device, generator=noise) < self.style_mixing_probability
        return StyleMixing(other, torch.where(mixed, cutoff, count))

    def sub_batch(self, count: int) -> StepContext:
        """This step's context for a smaller global batch of `count` new samples (the path length penalty's),
        shared among the processes as the step's batch is; it draws no real images."""
        rows = shard_rows(count, self.distribution, 1)
        return replace(self, stage=replace(self.stage, batch_size=count, accumulate=1), rows=rows, real=None,
                       labels=None, loss_context=replace(self.loss_context, rows=rows, batch=count))

    def random_labels(self) -> torch.Tensor | None:
        """Classes drawn uniformly for this process's rows of the global batch (for generated images that do
        not pair with real ones); None for a generator that takes no label."""
        classes = self.state.generator.spec.classes
        if not classes:
            return None
        labels = torch.randint(classes, (self.stage.batch_size,), device=self.state.device, generator=self.state.noise)
        return labels if self.rows is None else labels[self.rows.to(labels.device)]

    def latents(self) -> torch.Tensor:
        """This process's rows of a global batch of latents (every process draws the whole batch)."""
        state = self.state
        z = torch.randn(self.stage.batch_size, state.generator.latent_size, device=state.device, generator=state.noise)
        return z if self.rows is None else z[self.rows.to(z.device)]

    def micro_batches(self) -> Iterator[MicroBatch]:
        """This process's batch in the stage's `accumulate` micro-batches of whole minibatch-stddev groups.
        Each draws the loss's random numbers (penalty mixing, label noise) from the same generator state for
        the global batch and keeps its rows, so together they draw what the whole batch would."""
        parts = self.stage.accumulate
        if parts == 1:
            yield MicroBatch(1.0, None, self.loss_context, True)
            return
        count = self.stage.batch_size if self.rows is None else len(self.rows)
        noise = self.state.noise.get_state()
        for part in range(parts):
            index = torch.tensor(split_rows(count, self.batch_group, parts, part))
            rows = index if self.rows is None else self.rows[index]
            self.state.noise.set_state(noise)
            yield MicroBatch(len(index) / count, index, replace(self.loss_context, rows=rows), part == parts - 1)

    def drawing(self, micro: MicroBatch) -> contextlib.AbstractContextManager:
        """The networks' random layers (noise) draw this micro-batch's rows of a draw for the global batch from
        the state's noise generator, right after the latents and before the loss's draws, as the whole batch would."""
        loss_context = micro.loss_context
        draws = Draws(self.state.noise, loss_context.rows, loss_context.batch)
        return drawing_from(draws, self.state.generator, self.state.discriminator)

    def accumulate(self, network: nn.Module, compute: Callable[[MicroBatch], Terms], weight: float = 1) -> Terms:
        """`compute(micro)` (its terms; 'loss' is minimized) for every micro-batch, each backward weighted by
        its share (and `weight`: a lazy regularizer's interval) into `network`'s gradients; with several
        processes DDP averages them once, after the last micro-batch. Returns the whole batch's terms."""
        parts = []
        for micro in self.micro_batches():
            with self.autocast(), self.drawing(micro):
                terms = compute(micro)
            sync = contextlib.nullcontext() if micro.last or not hasattr(network, "no_sync") else network.no_sync()
            with sync:
                micro.scaled(terms["loss"] if weight == 1 else terms["loss"] * weight).backward()
            parts.append((micro, terms))
        return accumulated(parts)

    def critic(self, micro: MicroBatch, trained: bool = True) -> Critic:
        """D at this step's depth and alpha for the micro-batch's images (and labels): the trained (wrapped)
        one, or the state's own; its compiled pass with --compile, but for penalties."""
        network = self.discriminator if trained else self.state.discriminator
        augment = None if self.state.augment is None else partial(self.state.augment, context=micro.loss_context)
        return Critic(self.fast(network), self.position.depth, self.position.alpha, self.inputs(micro),
                      self.state.discriminator.spec.classifier is not None, augment, eager=network)

    def summed_over_processes(self, values: torch.Tensor) -> torch.Tensor:
        """`values` summed over the processes, each holding the part of its rows (itself with one process)."""
        if self.rows is None:
            return values
        values = values.clone()
        torch.distributed.all_reduce(values)
        return values

    def classified(self, terms: Terms, critic: Critic, micro: MicroBatch, *images: Images) -> Terms:
        """`terms` with an auxiliary classifier's loss (AC-GAN) added, when D has one: its weight × the
        cross-entropy of the class logits of each of `images` (D: the real and generated ones; G: the
        generated ones) with the micro-batch's labels, from the passes the loss already made."""
        head = self.state.discriminator.spec.classifier
        if head is None:
            return terms
        labels = micro.take(self.labels).long()
        classification = head.options["weight"] * sum(F.cross_entropy(critic.logits_of(x), labels) for x in images)
        return {**terms, "loss": terms["loss"] + classification, "ac": classification}


class Critic:
    """D as the losses call it: images -> scores [N] in float32, the images augmented first when the training
    file says so. Each call keeps its scores (and an auxiliary classifier's class logits) by the images'
    storage, so what else reads them (ADA's count of real signs, the classification loss) takes them from
    the pass the loss made, a detached copy (as R1 makes) included.

    `network` may be a compiled pass; `eager` (the network itself) then scores the images a penalty
    differentiates the scores by with create_graph (R1, WGAN-GP: the loss makes them leaves that require
    grad), as a compiled graph cannot be differentiated twice."""

    def __init__(self, network: Callable, depth: int, alpha, inputs: dict[str, torch.Tensor], classifies: bool,
                 augment: Callable[[Images], Images] | None = None, eager: nn.Module | None = None):
        self.network, self.depth, self.alpha, self.inputs = network, depth, alpha, inputs
        self.classifies, self.augment = classifies, augment
        self.eager = network if eager is None else eager
        self.outputs: dict[tuple[int, tuple[int, ...]], tuple[torch.Tensor, torch.Tensor | None]] = {}

    def __call__(self, images: Images) -> torch.Tensor:
        network = self.eager if _penalized(images) else self.network
        seen = images if self.augment is None else self.augment(images)
        if self.classifies:
            scores, logits = network(seen, self.depth, self.alpha, logits=True, **self.inputs)
        else:
            scores, logits = network(seen, self.depth, self.alpha, **self.inputs), None
        self.outputs[self._key(images)] = scores, logits
        return scores.float()

    @staticmethod
    def _key(images: Images) -> tuple:
        return tuple((image.data_ptr(), tuple(image.shape)) for image in image_list(images))

    def _of(self, images: Images) -> tuple[torch.Tensor, torch.Tensor | None]:
        key = self._key(images)
        if key not in self.outputs:
            self(images)
        return self.outputs[key]

    def scores_of(self, images: Images) -> torch.Tensor:
        """The scores of `images`, from the pass that scored them (or a new one), in float32."""
        return self._of(images)[0].float()

    def logits_of(self, images: Images) -> torch.Tensor:
        """The class logits of `images`, from the pass that scored them (or a new one), in float32."""
        return self._of(images)[1].float()


def _penalized(images: Images) -> bool:
    """Whether a penalty will differentiate D's scores by these images: they are leaves that require grad."""
    return torch.is_grad_enabled() and any(image.requires_grad and image.is_leaf for image in image_list(images))


def train_step(context: StepContext, phases: Sequence[Phase]) -> Terms:
    """Run every phase due at the state's step (a phase with interval k on every k-th step, `repeats`
    times), then count the step and the real images its phases drew. Returns the loss terms, detached,
    by logged name ('loss/D', 'loss/D_r1', 'loss/G', ...): a phase repeated n times gives their mean.
    Nothing here waits for the device."""
    state, terms = context.state, {}
    for phase in phases:
        if state.step % phase.interval:
            continue
        runs = [phase.run(context) or {} for _ in range(phase.repeats)]
        for name in runs[0]:
            key = f"loss/{phase.name}" if name == "loss" else f"loss/{phase.name}_{name}"
            values = [run[name].detach().float() for run in runs]
            terms[key] = values[0] if len(values) == 1 else torch.stack(values).mean()
    state.step += 1
    state.images_shown += context.real_images_drawn
    return terms
