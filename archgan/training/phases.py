"""What a training step does, as data: a list of phases built from the training file and the loss, in
the spirit of stylegan2-ada-pytorch's training loop — the discriminator step (×n_critic), each lazy
regularizer as its own phase every `interval` steps (its penalty scaled by the interval), the generator
step, the generator's path length penalty (StyleGAN2, lazily), the update of a mapping network's average w,
ADA's adjustment of the augmentation probability, and the generator-average update. training/step.py runs
them."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from ..losses.objectives import Loss, PathLength, Regularizer
from ..networks.images import final_image
from ..networks.styles import track_average
from .config import TrainingConfig
from .ema import ema_decay, half_life_decay, update_ema
from .step import MicroBatch, StepContext, Terms


@dataclass(frozen=True)
class Phase:
    name: str  # its terms are logged as loss/<name> and loss/<name>_<term>
    run: Callable[[StepContext], Terms | None]
    interval: int = 1  # runs on the steps divisible by it
    repeats: int = 1  # runs this many times in a row (n_critic)


def discriminator_step(context: StepContext) -> Terms:
    """D on a fresh real batch and a batch of generated images (no gradient for G), in micro-batches."""
    state = context.state
    state.discriminator.requires_grad_(True)
    real, latents = context.draw_real(), context.latents()
    mixing = context.style_mixing()

    def compute(micro: MicroBatch) -> Terms:
        with torch.no_grad():
            fake = context.generate(context.fast(state.generator), latents, micro, mixing)
        critic, real_rows = context.critic(micro), micro.take(real)
        terms = context.loss.discriminator(critic, real_rows, fake, micro.loss_context)
        if state.augment is not None:
            state.augment.record(critic.scores_of(real_rows))
        return context.classified(terms, critic, micro, real_rows, fake)

    state.d_optimizer.zero_grad(set_to_none=True)
    terms = context.accumulate(context.discriminator, compute)
    state.d_optimizer.step()
    return terms


def regularizer_step(regularizer: Regularizer) -> Callable[[StepContext], Terms]:
    """A lazy regularizer of D on the last real batch: its own backward and optimizer step, the penalty
    multiplied by its interval (StyleGAN2's lazy regularization)."""

    def run(context: StepContext) -> Terms:
        state = context.state
        state.discriminator.requires_grad_(True)

        def compute(micro: MicroBatch) -> Terms:
            return {"loss": regularizer.penalty(context.critic(micro), micro.take(context.real), micro.loss_context)}

        state.d_optimizer.zero_grad(set_to_none=True)
        terms = context.accumulate(context.discriminator, compute, weight=regularizer.interval)
        state.d_optimizer.step()
        return terms

    return run


def generator_step(context: StepContext) -> Terms:
    """G through D itself (D's parameters take no gradient here), in micro-batches."""
    state = context.state
    state.discriminator.requires_grad_(False)
    latents = context.generator_latents = context.latents()
    mixing = context.style_mixing()

    def compute(micro: MicroBatch) -> Terms:
        fake = context.generate(context.fast(context.generator), latents, micro, mixing)
        critic = context.critic(micro, trained=False)
        terms = context.loss.generator(critic, micro.take(context.real), fake, micro.loss_context)
        return context.classified(terms, critic, micro, fake)

    state.g_optimizer.zero_grad(set_to_none=True)
    terms = context.accumulate(context.generator, compute)
    state.g_optimizer.step()
    return terms


def path_length_step(penalty: PathLength) -> Callable[[StepContext], Terms]:
    """StyleGAN2's path length penalty as a generator step of its own every `interval` steps, on a batch of
    batch / batch_shrink new latents (style-mixed as the generator step's), its loss × the interval."""

    def run(context: StepContext) -> Terms:
        state = context.state
        sub = context.sub_batch(max(1, context.stage.batch_size // penalty.batch_shrink))
        latents, mixing = sub.latents(), sub.style_mixing()
        labels = sub.random_labels()
        inputs = {} if labels is None else {"label": labels}
        whole = MicroBatch(1.0, None, sub.loss_context, True)
        state.g_optimizer.zero_grad(set_to_none=True)
        with sub.autocast(), sub.drawing(whole):
            styles = state.generator.styles(latents, inputs, mixing=mixing)
            images = context.generator(latents, sub.position.depth, sub.position.alpha, styles=styles, **inputs)
            terms = penalty.penalty(final_image(images).float(), styles, sub.loss_context)
        (terms["loss"] * penalty.interval).backward()
        state.g_optimizer.step()
        return terms

    return run


def w_avg_step(beta: float) -> Callable[[StepContext], None]:
    """The mapping network's average w follows the mean w of the generator step's latents (over the global
    batch: every process adds its rows' sum), as StyleGAN's dlatent_avg; EMA copies it with the buffers."""

    def run(context: StepContext) -> None:
        generator = context.state.generator
        whole = MicroBatch(1.0, None, context.loss_context, True)
        with torch.no_grad():
            total = generator.mapping(context.generator_latents, context.inputs(whole)).float().sum(0)
        track_average(generator.w_avg, context.summed_over_processes(total) / context.stage.batch_size, beta)

    return run


def augment_step(interval: int, real_batches: int) -> Callable[[StepContext], None]:
    """ADA: every `interval` steps the augmentation probability moves toward what keeps r_t at its target,
    by the real images of those steps (`real_batches` per step: n_critic)."""

    def run(context: StepContext) -> None:
        images = interval * real_batches * context.stage.batch_size
        context.state.augment.adjust(images, context.summed_over_processes)

    return run


def ema_step(config: TrainingConfig) -> Callable[[StepContext], None]:
    """The generator's average: a fixed decay (ema_beta, with warm-up if asked) or a half-life in images
    (ema_kimg), the decay then depending on the stage's batch."""

    def run(context: StepContext) -> None:
        state = context.state
        if config.ema_kimg is not None:
            beta = half_life_decay(context.stage.batch_size, config.ema_kimg)
        else:
            beta = ema_decay(config.ema_beta, state.step, config.ema_warmup)
        update_ema(state.generator_ema, state.generator, beta)

    return run


def build_phases(config: TrainingConfig, loss: Loss, style_based: bool = False,
                 path_length: PathLength | None = None) -> tuple[Phase, ...]:
    """The phases of every step of a run with this training file and loss (`style_based`: the generator
    has a mapping network, whose average w is tracked; `path_length`: the training file's penalty)."""
    phases = [Phase("D", discriminator_step, repeats=config.n_critic)]
    phases += [Phase(f"D_{regularizer.name}", regularizer_step(regularizer), interval=regularizer.interval)
               for regularizer in loss.regularizers]
    phases.append(Phase("G", generator_step))
    if path_length is not None:
        phases.append(Phase("G_pl", path_length_step(path_length), interval=path_length.interval))
    if style_based:
        phases.append(Phase("w_avg", w_avg_step(config.w_avg_beta)))
    if config.augment is not None and config.augment["adaptive"] is not None:
        interval = config.augment["adaptive"]["interval"]
        phases.append(Phase("augment", augment_step(interval, config.n_critic), interval=interval))
    if config.keeps_average:
        phases.append(Phase("ema", ema_step(config)))
    return tuple(phases)


def lazy_intervals(loss: Loss, path_length: PathLength | None = None) -> dict[str, int]:
    """Per network, the interval of its lazy regularizers (Adam's lr and betas are scaled for it)."""
    intervals = {"discriminator": max(r.interval for r in loss.regularizers)} if loss.regularizers else {}
    return intervals | ({"generator": path_length.interval} if path_length is not None else {})
