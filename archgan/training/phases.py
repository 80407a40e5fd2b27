"""What a training step does, as data: a list of phases built from the training file and the loss, in
the spirit of stylegan2-ada-pytorch's training loop — the discriminator step (×n_critic), each lazy
regularizer as its own phase every `interval` steps (its penalty scaled by the interval), the generator
step, and the generator-average update. training/step.py runs them."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from ..losses.objectives import Loss, Regularizer
from .config import TrainingConfig
from .ema import ema_decay, update_ema
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

    def compute(micro: MicroBatch) -> Terms:
        with torch.no_grad():
            fake = context.generate(state.generator, latents, micro)
        return context.loss.discriminator(context.critic(micro), micro.take(real), fake, micro.loss_context)

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
    latents = context.latents()

    def compute(micro: MicroBatch) -> Terms:
        fake = context.generate(context.generator, latents, micro)
        return context.loss.generator(context.critic(micro, trained=False), micro.take(context.real), fake,
                                      micro.loss_context)

    state.g_optimizer.zero_grad(set_to_none=True)
    terms = context.accumulate(context.generator, compute)
    state.g_optimizer.step()
    return terms


def ema_step(beta: float, warmup: bool) -> Callable[[StepContext], None]:
    def run(context: StepContext) -> None:
        state = context.state
        update_ema(state.generator_ema, state.generator, ema_decay(beta, state.step, warmup))

    return run


def build_phases(config: TrainingConfig, loss: Loss) -> tuple[Phase, ...]:
    """The phases of every step of a run with this training file and loss."""
    phases = [Phase("D", discriminator_step, repeats=config.n_critic)]
    phases += [Phase(f"D_{regularizer.name}", regularizer_step(regularizer), interval=regularizer.interval)
               for regularizer in loss.regularizers]
    phases.append(Phase("G", generator_step))
    if config.ema_beta > 0:
        phases.append(Phase("ema", ema_step(config.ema_beta, config.ema_warmup)))
    return tuple(phases)


def lazy_intervals(loss: Loss) -> dict[str, int]:
    """Per network, the interval of its lazy regularizers (Adam's lr and betas are scaled for it)."""
    return {"discriminator": max(r.interval for r in loss.regularizers)} if loss.regularizers else {}
