"""Every loss against a hand computation on fixed tensors: images are [N, 1, 1, 1] (or [N, 1, 2, 2])
and the critics are simple functions whose gradients are known in closed form."""
from __future__ import annotations

import math

import pytest
import torch

from archgan.losses import LOSSES, build_loss, normalize_loss
from archgan.losses.objectives import LossContext

REAL = torch.tensor([0.5, 2.0, -1.0]).view(3, 1, 1, 1)
FAKE = torch.tensor([-2.0, 0.0, 0.5]).view(3, 1, 1, 1)


def scores(images: torch.Tensor) -> torch.Tensor:
    return images.reshape(len(images), -1).sum(dim=1)


def context(**kwargs) -> LossContext:
    values = dict(resolution=16, final_resolution=16, generator=torch.Generator().manual_seed(7)) | kwargs
    return LossContext(**values)


def loss(name: str, **options):
    return build_loss(normalize_loss({"type": name, **options}))


def test_hinge():
    # relu(1 - [0.5, 2, -1]) = [0.5, 0, 2] -> 5/6 ; relu(1 + [-2, 0, 0.5]) = [0, 1, 1.5] -> 5/6
    assert loss("hinge").discriminator(scores, REAL, FAKE, context())["loss"].item() == pytest.approx(5 / 3)
    assert loss("hinge").generator(scores, REAL, FAKE, context())["loss"].item() == pytest.approx(0.5)


def test_relativistic_hinge():
    # mean real = 0.5, mean fake = -0.5; r - mean f = [1, 2.5, -0.5], f - mean r = [-2.5, -0.5, 0]
    d = loss("relativistic-hinge").discriminator(scores, REAL, FAKE, context())["loss"].item()
    assert d == pytest.approx((0 + 0 + 1.5) / 3 + (0 + 0.5 + 1) / 3)
    g = loss("relativistic-hinge").generator(scores, REAL, FAKE, context())["loss"].item()
    assert g == pytest.approx((2 + 3.5 + 0.5) / 3 + (3.5 + 1.5 + 1) / 3)


def test_lsgan():
    d = loss("lsgan").discriminator(scores, REAL, FAKE, context())["loss"].item()
    assert d == pytest.approx((0.25 + 1 + 4) / 3 + (4 + 0 + 0.25) / 3)
    assert loss("lsgan").generator(scores, REAL, FAKE, context())["loss"].item() == pytest.approx((9 + 1 + 0.25) / 3)


def test_lsgan_label_noise_draws_targets_from_the_context_generator():
    generator = torch.Generator().manual_seed(7)
    real_target = 1 - 0.2 * torch.rand((3,), generator=generator)
    fake_target = 0.2 * torch.rand((3,), generator=generator)
    expected = ((scores(REAL) - real_target) ** 2).mean() + ((scores(FAKE) - fake_target) ** 2).mean()
    got = loss("lsgan", label_noise=0.2).discriminator(scores, REAL, FAKE, context())["loss"]
    assert got.item() == pytest.approx(expected.item())


def test_logistic_with_r1_every_step_and_lazily():
    softplus = lambda x: math.log1p(math.exp(x))
    plain = sum(softplus(f) for f in (-2.0, 0.0, 0.5)) / 3 + sum(softplus(-r) for r in (0.5, 2.0, -1.0)) / 3
    triple = lambda images: 3 * scores(images)
    every_step = loss("logistic", r1_gamma=2.0)
    terms = every_step.discriminator(scores, REAL, FAKE, context())
    assert every_step.regularizers == ()
    assert terms["r1"].item() == pytest.approx(2.0 / 2 * 1.0)  # ‖∇‖² = 1
    assert terms["loss"].item() == pytest.approx(plain + 1.0)
    lazy = loss("logistic", r1_gamma=2.0, r1_interval=4)
    terms = lazy.discriminator(scores, REAL, FAKE, context())
    assert "r1" not in terms and terms["loss"].item() == pytest.approx(plain)  # R1 is a phase of its own
    (r1,) = lazy.regularizers
    assert (r1.name, r1.interval) == ("r1", 4)
    assert r1.penalty(triple, REAL, context()).item() == pytest.approx(2.0 / 2 * 9)  # the phase scales it by 4
    r1 = loss("logistic", r1_gamma=1.0).discriminator(triple, REAL, FAKE, context())["r1"]
    assert r1.item() == pytest.approx(1.0 / 2 * 9)
    assert loss("logistic").generator(scores, REAL, FAKE, context())["loss"].item() == pytest.approx(
        sum(softplus(-f) for f in (-2.0, 0.0, 0.5)) / 3
    )


def test_wgan_gp_with_a_linear_critic():
    """D(x) = 3x: the gradient is 3 everywhere, so the penalty is λ(3 − 1)² = 40 whatever the mixing."""
    critic = lambda images: 3 * scores(images)
    terms = loss("wgan-gp").discriminator(critic, REAL, FAKE, context())
    assert terms["wasserstein"].item() == pytest.approx(3 * (-0.5) - 3 * 0.5)
    assert terms["penalty"].item() == pytest.approx(40.0)
    assert terms["drift"].item() == pytest.approx(0.001 * (2.25 + 36 + 9) / 3)
    assert terms["loss"].item() == pytest.approx(-3 + 40 + 0.001 * 47.25 / 3)
    # as the official code: the gradient w.r.t. images upsampled 16/4 = 4 times is 4 times smaller
    official = loss("wgan-gp", full_resolution_penalty=True).discriminator(critic, REAL, FAKE, context(resolution=4))
    assert official["penalty"].item() == pytest.approx(10 * (0.75 - 1) ** 2)
    assert loss("wgan-gp").generator(critic, REAL, FAKE, context())["loss"].item() == pytest.approx(1.5)


def test_wgan_gp_penalty_value_with_a_nonlinear_critic():
    """D(x) = Σ x²: ∇ = 2·mix, mix = real + u(fake − real) with u drawn per sample from the context's generator."""
    generator = torch.Generator().manual_seed(3)
    real, fake = torch.randn(4, 1, 2, 2, generator=generator), torch.randn(4, 1, 2, 2, generator=generator)
    critic = lambda images: images.square().flatten(1).sum(dim=1)
    u = torch.rand((4, 1, 1, 1), generator=torch.Generator().manual_seed(7))
    norms = (2 * (real + u * (fake - real))).flatten(1).norm(dim=1)
    expected = 10 * ((norms - 1) ** 2).mean()
    assert loss("wgan-gp").discriminator(critic, real, fake, context())["penalty"].item() == pytest.approx(expected.item(), rel=1e-6)


def test_penalty_backpropagates_into_the_critic():
    weight = torch.tensor(3.0, requires_grad=True)
    critic = lambda images: weight * scores(images)
    loss("wgan-gp", drift=0.0).discriminator(critic, REAL, FAKE, context())["loss"].backward()
    # d/dw [w·(mean f − mean r) + 10(w − 1)²] = −1 + 20·2 = 39
    assert weight.grad.item() == pytest.approx(39.0)


def test_every_loss_is_registered_with_a_docs_line():
    assert set(LOSSES) == {"wgan-gp", "hinge", "relativistic-hinge", "lsgan", "logistic"}
    assert all(entry.doc for entry in LOSSES.values())
    assert normalize_loss("wgan-gp") == {"type": "wgan-gp", "gp_weight": 10.0, "target": 1.0, "drift": 0.001,
                                         "full_resolution_penalty": False}
