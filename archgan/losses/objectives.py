"""The GAN losses (registered in losses/__init__.py): each has a discriminator half and a generator half,
and may declare regularizers that run on their own schedule.

A loss sees the discriminator as a function `d(images) -> scores [N]` (depth and alpha already
bound), so the same losses serve every architecture and every stage. `fake` is detached for the
discriminator half; the generator half receives it with its graph. Images are one batch, or one batch
per stage for a discriminator that reads every scale (MSG-GAN): the penalties then take the gradient
w.r.t. all of them, one norm over every scale, mixed with one factor per sample (as BMSG-GAN).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import torch
import torch.nn.functional as F

from ..networks.images import Images, batch_size, each_image, image_list

Critic = Callable[[Images], torch.Tensor]
Terms = dict[str, torch.Tensor]
"""Loss terms for logging; 'loss' is the one minimized."""


@dataclass(frozen=True)
class LossContext:
    """What a loss may need beyond the images: the resolution being trained (the official ProGAN
    takes its gradient penalty at the final resolution), the random generator (penalty mixing factors,
    label noise) whose state checkpoints keep, and, with several processes, this process's `rows` of
    the global batch of `batch` images."""

    resolution: int
    final_resolution: int
    generator: torch.Generator | None = None
    rows: torch.Tensor | None = None
    batch: int | None = None

    def uniform(self, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
        """Per-sample U[0, 1) draws (see _draw)."""
        return self._draw(torch.rand, shape, like)

    def normal(self, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
        """Per-sample N(0, 1) draws (see _draw)."""
        return self._draw(torch.randn, shape, like)

    def _draw(self, sampler: Callable[..., torch.Tensor], shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
        """Drawn for the global batch and cut to this process's rows, so that any number of processes draws
        what one would."""
        if self.rows is None:
            return sampler(shape, device=like.device, dtype=like.dtype, generator=self.generator)
        full = sampler((self.batch, *shape[1:]), device=like.device, dtype=like.dtype, generator=self.generator)
        return full[self.rows.to(like.device)]

    def batch_mean(self, values: torch.Tensor) -> torch.Tensor:
        """The mean over the global batch, differentiable across processes (relativistic losses compare
        each sample with the mean of the whole batch)."""
        if self.rows is None:
            return values.mean()
        from torch.distributed.nn.functional import all_reduce

        return all_reduce(values.sum()) / self.batch


@dataclass(frozen=True)
class Regularizer:
    """A penalty on the discriminator run as its own step every `interval` steps, its value multiplied
    by the interval (StyleGAN2's lazy regularization); logged as loss/D_<name>."""

    name: str
    interval: int
    penalty: Callable[[Critic, Images, LossContext], torch.Tensor]  # (d, real, context) -> scalar


class Loss:
    """Both halves of a GAN loss; `regularizers` are the penalties that run on their own schedule."""

    regularizers: tuple[Regularizer, ...] = ()

    def __init__(self, options: Mapping[str, Any]):
        """`options`: the normalized loss entry (losses without options have nothing to read in it)."""

    def discriminator(self, d: Critic, real: Images, fake: Images, context: LossContext) -> Terms:
        raise NotImplementedError

    def generator(self, d: Critic, real: Images, fake: Images, context: LossContext) -> Terms:
        raise NotImplementedError


def _input_gradient(d: Critic, images: Images) -> tuple[torch.Tensor, torch.Tensor]:
    """Scores of `images` and the squared norm per sample of the gradient of their sum w.r.t. the images
    (every scale's, for a list), kept differentiable."""
    images = each_image(images, lambda image: image.detach().requires_grad_(True))
    scores = d(images)
    gradients = torch.autograd.grad(scores.sum(), image_list(images), create_graph=True)
    return scores, sum(gradient.flatten(1).square().sum(dim=1) for gradient in gradients)


class WassersteinGP(Loss):
    """WGAN-GP (Gulrajani et al. 2017) as the official ProGAN: D minimizes D(fake) − D(real)
    + λ·(‖∇D(mix)‖ − target)²/target² + ε·D(real)², one uniform mixing factor per sample."""

    def __init__(self, options: Mapping[str, Any]):
        self.weight, self.target = options["gp_weight"], options["target"]
        self.drift, self.full_resolution = options["drift"], options["full_resolution_penalty"]

    def discriminator(self, d: Critic, real: Images, fake: Images, context: LossContext) -> Terms:
        real_scores, fake_scores = d(real), d(fake)
        mix = context.uniform((batch_size(real), 1, 1, 1), image_list(real)[0])
        mixed = [torch.lerp(r, f, mix) for r, f in zip(image_list(real), image_list(fake))]
        _, squared = _input_gradient(d, mixed if isinstance(real, list) else mixed[0])
        norm = squared.sqrt()
        if self.full_resolution:
            # the official code feeds D images upsampled to the final resolution: their gradient
            # norm is the native one divided by the upsampling factor
            norm = norm * (context.resolution / context.final_resolution)
        penalty = self.weight * ((norm - self.target) ** 2).mean() / self.target**2
        drift = self.drift * real_scores.square().mean()
        wasserstein = fake_scores.mean() - real_scores.mean()
        return {"loss": wasserstein + penalty + drift, "wasserstein": wasserstein, "penalty": penalty, "drift": drift}

    def generator(self, d: Critic, real: Images, fake: Images, context: LossContext) -> Terms:
        return {"loss": -d(fake).mean()}


class Hinge(Loss):
    """Hinge loss (Lim & Ye 2017; SAGAN): D: relu(1 − D(real)) + relu(1 + D(fake)); G: −D(fake)."""

    def discriminator(self, d: Critic, real: Images, fake: Images, context: LossContext) -> Terms:
        return {"loss": F.relu(1 - d(real)).mean() + F.relu(1 + d(fake)).mean()}

    def generator(self, d: Critic, real: Images, fake: Images, context: LossContext) -> Terms:
        return {"loss": -d(fake).mean()}


class RelativisticHinge(Loss):
    """Relativistic average hinge (Jolicoeur-Martineau 2018) as attn_gan_pytorch defines it:
    r = D(real) − mean D(fake), f = D(fake) − mean D(real);
    D: mean relu(1 − r) + mean relu(1 + f); G: mean relu(1 + r) + mean relu(1 − f).
    D is evaluated once per batch here; attn_gan_pytorch calls it twice per batch, which differs only
    when D is stochastic (dropout) or updates state per call (its spectral-norm power iteration)."""

    @staticmethod
    def _differences(d: Critic, real: Images, fake: Images, context: LossContext) -> tuple[torch.Tensor, torch.Tensor]:
        real_scores, fake_scores = d(real), d(fake)
        return real_scores - context.batch_mean(fake_scores), fake_scores - context.batch_mean(real_scores)

    def discriminator(self, d: Critic, real: Images, fake: Images, context: LossContext) -> Terms:
        real_vs_fake, fake_vs_real = self._differences(d, real, fake, context)
        return {"loss": F.relu(1 - real_vs_fake).mean() + F.relu(1 + fake_vs_real).mean()}

    def generator(self, d: Critic, real: Images, fake: Images, context: LossContext) -> Terms:
        real_vs_fake, fake_vs_real = self._differences(d, real, fake, context)
        return {"loss": F.relu(1 + real_vs_fake).mean() + F.relu(1 - fake_vs_real).mean()}


class LeastSquares(Loss):
    """LSGAN (Mao et al. 2017) with mean squared errors: D: (D(real) − 1)² + D(fake)²; G: (D(fake) − 1)².
    With `label_noise` n > 0 the discriminator's targets are drawn per sample, U[1 − n, 1] for real
    and U[0, n] for fake images, the noisy labels the nvnbny PGGAN uses to steady MSE training."""

    def __init__(self, options: Mapping[str, Any]):
        self.noise = options["label_noise"]

    def discriminator(self, d: Critic, real: Images, fake: Images, context: LossContext) -> Terms:
        real_scores, fake_scores = d(real), d(fake)
        real_target, fake_target = torch.ones_like(real_scores), torch.zeros_like(fake_scores)
        if self.noise:
            real_target = real_target - self.noise * context.uniform(real_scores.shape, real_scores)
            fake_target = fake_target + self.noise * context.uniform(fake_scores.shape, fake_scores)
        return {"loss": F.mse_loss(real_scores, real_target) + F.mse_loss(fake_scores, fake_target)}

    def generator(self, d: Critic, real: Images, fake: Images, context: LossContext) -> Terms:
        scores = d(fake)
        return {"loss": F.mse_loss(scores, torch.ones_like(scores))}


class Logistic(Loss):
    """Non-saturating logistic loss (Goodfellow et al. 2014): D: softplus(D(fake)) + softplus(−D(real));
    G: softplus(−D(fake)). The R1 penalty (Mescheder et al. 2018) γ/2·‖∇D(real)‖² joins every
    discriminator step with `r1_interval` 1 (from the same pass over the real images), and is otherwise
    a regularizer of its own every `r1_interval` steps (lazy regularization, StyleGAN2)."""

    def __init__(self, options: Mapping[str, Any]):
        self.gamma, interval = options["r1_gamma"], options["r1_interval"]
        self.every_step = bool(self.gamma) and interval == 1
        self.regularizers = (Regularizer("r1", interval, self.r1),) if self.gamma and interval > 1 else ()

    def _r1_of(self, squared: torch.Tensor) -> torch.Tensor:
        return self.gamma / 2 * squared.mean()

    def r1(self, d: Critic, real: Images, context: LossContext) -> torch.Tensor:
        """The lazy penalty. Its scores × 0 give every parameter of D a gradient, also those the penalty does
        not reach (the score's bias): DistributedDataParallel reduces a bucket only once all its parameters
        have one, so without it the processes' discriminators drift apart (stylegan2-ada-pytorch does the same)."""
        scores, gradient = _input_gradient(d, real)
        return self._r1_of(gradient) + 0 * scores.sum()

    def discriminator(self, d: Critic, real: Images, fake: Images, context: LossContext) -> Terms:
        terms: Terms = {}
        if self.every_step:
            real_scores, gradient = _input_gradient(d, real)
            terms["r1"] = self._r1_of(gradient)
        else:
            real_scores = d(real)
        logistic = F.softplus(d(fake)).mean() + F.softplus(-real_scores).mean()
        terms["loss"] = logistic + terms.get("r1", 0)
        return terms

    def generator(self, d: Critic, real: Images, fake: Images, context: LossContext) -> Terms:
        return {"loss": F.softplus(-d(fake)).mean()}


class PathLength:
    """StyleGAN2's path length penalty (losses/__init__.PATH_LENGTH_OPTIONS): with lengths
    a = ‖∂(G(w)·y)/∂w‖ (the gradient's squared norm summed over w's features, averaged over the styles,
    square-rooted) and their running mean ā ← lerp(ā, mean a, decay), weight·(a − ā)². The mean is over
    the global batch (the loss context's), so N processes keep the same ā; it is checkpointed."""

    def __init__(self, options: Mapping[str, Any], device: torch.device):
        self.weight, self.interval = options["weight"], options["interval"]
        self.decay, self.batch_shrink = options["decay"], options["batch_shrink"]
        self.mean = torch.zeros((), device=device)

    def penalty(self, image: torch.Tensor, styles: torch.Tensor, context: LossContext) -> Terms:
        noise = context.normal(tuple(image.shape), image) / math.sqrt(image.shape[2] * image.shape[3])
        (gradient,) = torch.autograd.grad((image * noise).sum(), styles, create_graph=True)
        lengths = gradient.float().square().sum(dim=2).mean(dim=1).sqrt()
        mean = self.mean.lerp(context.batch_mean(lengths), self.decay)
        self.mean = mean.detach()
        penalty = self.weight * (lengths - mean).square().mean()
        return {"loss": penalty + 0 * image[:, 0, 0, 0].sum(), "length": mean.detach()}

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"mean": self.mean.clone()}

    def load_state_dict(self, state: Mapping[str, torch.Tensor]) -> None:
        self.mean = state["mean"].to(self.mean.device).clone()
