"""GAN losses: one registry, each loss with its options (schema, default, docs line) and its two halves.

A loss sees the discriminator as a function `d(images) -> scores [N]` (depth and alpha already
bound), so the same losses serve every architecture and every stage. `fake` is detached for the
discriminator half; the generator half receives it with its graph.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import torch
import torch.nn.functional as F

from .options import Option, options_schema

Critic = Callable[[torch.Tensor], torch.Tensor]
Terms = dict[str, torch.Tensor]
"""Loss terms for logging; 'loss' is the one minimized."""


@dataclass(frozen=True)
class LossContext:
    """What a loss may need beyond the images: the resolution being trained (the official ProGAN
    takes its gradient penalty at the final resolution), the step (lazy regularization), the random
    generator (penalty mixing factors, label noise) whose state checkpoints keep, and, with several
    processes, this process's `rows` of the global batch of `batch` images."""

    resolution: int
    final_resolution: int
    step: int
    generator: torch.Generator | None = None
    rows: torch.Tensor | None = None
    batch: int | None = None

    def uniform(self, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
        """Per-sample U[0, 1) draws: drawn for the global batch and cut to this process's rows, so that
        any number of processes draws what one would."""
        if self.rows is None:
            return torch.rand(shape, device=like.device, dtype=like.dtype, generator=self.generator)
        full = torch.rand((self.batch, *shape[1:]), device=like.device, dtype=like.dtype, generator=self.generator)
        return full[self.rows.to(like.device)]

    def batch_mean(self, values: torch.Tensor) -> torch.Tensor:
        """The mean over the global batch, differentiable across processes (relativistic losses compare
        each sample with the mean of the whole batch)."""
        if self.rows is None:
            return values.mean()
        from torch.distributed.nn.functional import all_reduce

        return all_reduce(values.sum()) / self.batch


def _input_gradient(d: Critic, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Scores of `images` and the gradient of their sum w.r.t. the images, kept differentiable."""
    images = images.detach().requires_grad_(True)
    scores = d(images)
    (gradient,) = torch.autograd.grad(scores.sum(), images, create_graph=True)
    return scores, gradient


class WassersteinGP:
    """WGAN-GP (Gulrajani et al. 2017) as the official ProGAN: D minimizes D(fake) − D(real)
    + λ·(‖∇D(mix)‖ − target)²/target² + ε·D(real)², one uniform mixing factor per sample."""

    def __init__(self, options: Mapping[str, Any]):
        self.weight, self.target = options["gp_weight"], options["target"]
        self.drift, self.full_resolution = options["drift"], options["full_resolution_penalty"]

    def discriminator(self, d: Critic, real: torch.Tensor, fake: torch.Tensor, context: LossContext) -> Terms:
        real_scores, fake_scores = d(real), d(fake)
        mix = context.uniform((real.shape[0], 1, 1, 1), real)
        _, gradient = _input_gradient(d, torch.lerp(real, fake, mix))
        norm = gradient.flatten(1).norm(dim=1)
        if self.full_resolution:
            # the official code feeds D images upsampled to the final resolution: their gradient
            # norm is the native one divided by the upsampling factor
            norm = norm * (context.resolution / context.final_resolution)
        penalty = self.weight * ((norm - self.target) ** 2).mean() / self.target**2
        drift = self.drift * real_scores.square().mean()
        wasserstein = fake_scores.mean() - real_scores.mean()
        return {"loss": wasserstein + penalty + drift, "wasserstein": wasserstein, "penalty": penalty, "drift": drift}

    def generator(self, d: Critic, real: torch.Tensor, fake: torch.Tensor, context: LossContext) -> Terms:
        return {"loss": -d(fake).mean()}


class Hinge:
    """Hinge loss (Lim & Ye 2017; SAGAN): D: relu(1 − D(real)) + relu(1 + D(fake)); G: −D(fake)."""

    def discriminator(self, d: Critic, real: torch.Tensor, fake: torch.Tensor, context: LossContext) -> Terms:
        return {"loss": F.relu(1 - d(real)).mean() + F.relu(1 + d(fake)).mean()}

    def generator(self, d: Critic, real: torch.Tensor, fake: torch.Tensor, context: LossContext) -> Terms:
        return {"loss": -d(fake).mean()}


class RelativisticHinge:
    """Relativistic average hinge (Jolicoeur-Martineau 2018) as attn_gan_pytorch defines it:
    r = D(real) − mean D(fake), f = D(fake) − mean D(real);
    D: mean relu(1 − r) + mean relu(1 + f); G: mean relu(1 + r) + mean relu(1 − f).
    D is evaluated once per batch here; attn_gan_pytorch calls it twice per batch, which differs only
    when D is stochastic (dropout) or updates state per call (its spectral-norm power iteration)."""

    @staticmethod
    def _differences(d: Critic, real: torch.Tensor, fake: torch.Tensor, context: LossContext) -> tuple[torch.Tensor, torch.Tensor]:
        real_scores, fake_scores = d(real), d(fake)
        return real_scores - context.batch_mean(fake_scores), fake_scores - context.batch_mean(real_scores)

    def discriminator(self, d: Critic, real: torch.Tensor, fake: torch.Tensor, context: LossContext) -> Terms:
        real_vs_fake, fake_vs_real = self._differences(d, real, fake, context)
        return {"loss": F.relu(1 - real_vs_fake).mean() + F.relu(1 + fake_vs_real).mean()}

    def generator(self, d: Critic, real: torch.Tensor, fake: torch.Tensor, context: LossContext) -> Terms:
        real_vs_fake, fake_vs_real = self._differences(d, real, fake, context)
        return {"loss": F.relu(1 + real_vs_fake).mean() + F.relu(1 - fake_vs_real).mean()}


class LeastSquares:
    """LSGAN (Mao et al. 2017) with mean squared errors: D: (D(real) − 1)² + D(fake)²; G: (D(fake) − 1)².
    With `label_noise` n > 0 the discriminator's targets are drawn per sample, U[1 − n, 1] for real
    and U[0, n] for fake images, the noisy labels the nvnbny PGGAN uses to steady MSE training."""

    def __init__(self, options: Mapping[str, Any]):
        self.noise = options["label_noise"]

    def discriminator(self, d: Critic, real: torch.Tensor, fake: torch.Tensor, context: LossContext) -> Terms:
        real_scores, fake_scores = d(real), d(fake)
        real_target, fake_target = torch.ones_like(real_scores), torch.zeros_like(fake_scores)
        if self.noise:
            real_target = real_target - self.noise * context.uniform(real_scores.shape, real_scores)
            fake_target = fake_target + self.noise * context.uniform(fake_scores.shape, fake_scores)
        return {"loss": F.mse_loss(real_scores, real_target) + F.mse_loss(fake_scores, fake_target)}

    def generator(self, d: Critic, real: torch.Tensor, fake: torch.Tensor, context: LossContext) -> Terms:
        scores = d(fake)
        return {"loss": F.mse_loss(scores, torch.ones_like(scores))}


class Logistic:
    """Non-saturating logistic loss (Goodfellow et al. 2014): D: softplus(D(fake)) + softplus(−D(real));
    G: softplus(−D(fake)). Optional R1 penalty (Mescheder et al. 2018) γ/2·‖∇D(real)‖², applied every
    `r1_interval` steps and scaled by the interval (lazy regularization, StyleGAN2)."""

    def __init__(self, options: Mapping[str, Any]):
        self.gamma, self.interval = options["r1_gamma"], options["r1_interval"]

    def discriminator(self, d: Critic, real: torch.Tensor, fake: torch.Tensor, context: LossContext) -> Terms:
        terms: Terms = {}
        if self.gamma and context.step % self.interval == 0:
            real_scores, gradient = _input_gradient(d, real)
            terms["r1"] = self.gamma / 2 * gradient.flatten(1).square().sum(dim=1).mean() * self.interval
        else:
            real_scores = d(real)
        logistic = F.softplus(d(fake)).mean() + F.softplus(-real_scores).mean()
        terms["loss"] = logistic + terms.get("r1", 0)
        return terms

    def generator(self, d: Critic, real: torch.Tensor, fake: torch.Tensor, context: LossContext) -> Terms:
        return {"loss": F.softplus(-d(fake)).mean()}


@dataclass(frozen=True)
class LossType:
    name: str
    doc: str
    make: Callable[[Mapping[str, Any]], Any]
    options: Mapping[str, Option] = field(default_factory=dict)


_NUMBER = {"type": "number", "minimum": 0}
LOSSES: dict[str, LossType] = {
    loss.name: loss
    for loss in (
        LossType(
            "wgan-gp",
            WassersteinGP.__doc__.split("\n")[0],
            WassersteinGP,
            {
                "gp_weight": Option(_NUMBER, "λ, weight of the gradient penalty", 10.0),
                "target": Option({"type": "number", "exclusiveMinimum": 0}, "gradient norm the penalty pulls towards", 1.0),
                "drift": Option(_NUMBER, "ε, weight of D(real)² that keeps scores near 0", 0.001),
                "full_resolution_penalty": Option(
                    {"type": "boolean"},
                    "take the gradient norm as the official ProGAN does, w.r.t. images upsampled to the final "
                    "resolution (the native norm × resolution / final resolution); false: at the native resolution",
                    False,
                ),
            },
        ),
        LossType("hinge", Hinge.__doc__.split("\n")[0], lambda options: Hinge()),
        LossType("relativistic-hinge", RelativisticHinge.__doc__.split("\n")[0], lambda options: RelativisticHinge()),
        LossType(
            "lsgan",
            LeastSquares.__doc__.split("\n")[0],
            LeastSquares,
            {"label_noise": Option({"type": "number", "minimum": 0, "maximum": 1}, "width of the noisy-label ranges", 0.0)},
        ),
        LossType(
            "logistic",
            Logistic.__doc__.split("\n")[0],
            Logistic,
            {
                "r1_gamma": Option(_NUMBER, "γ of the R1 penalty on real images; 0 turns it off", 0.0),
                "r1_interval": Option({"type": "integer", "minimum": 1}, "apply R1 every this many steps", 1),
            },
        ),
    )
}


def loss_schema() -> dict[str, Any]:
    """A loss entry: a loss name, or {type: NAME, ...options}."""
    names = sorted(LOSSES)
    return {
        "anyOf": [
            {"enum": names},
            {
                "type": "object",
                "title": "a loss entry such as {type: wgan-gp, gp_weight: 10}",
                "required": ["type"],
                "properties": {"type": {"enum": names}},
                "allOf": [
                    {
                        "if": {"properties": {"type": {"const": name}}, "required": ["type"]},
                        "then": options_schema(LOSSES[name].options, strict=False, const_type=name),
                    }
                    for name in names
                ],
            },
        ]
    }


def normalize_loss(value: str | Mapping[str, Any]) -> dict[str, Any]:
    """'hinge' or {type: wgan-gp, gp_weight: 5} -> the full entry with every option explicit."""
    entry = {"type": value} if isinstance(value, str) else dict(value)
    loss = LOSSES[entry["type"]]
    return {"type": loss.name, **{name: entry.get(name, option.default) for name, option in loss.options.items()}}


def build_loss(entry: Mapping[str, Any]):
    """The loss object for a normalized loss entry."""
    return LOSSES[entry["type"]].make(entry)
