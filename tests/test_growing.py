"""Fade-in identities of the growable networks, checked against the stages run by hand."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from archgan.networks import build_network
from archgan.spec import load_spec

TOL = dict(atol=1e-6, rtol=0)


@pytest.fixture(scope="module")
def generator():
    return build_network(load_spec("pggan-small", "generator")).eval()


@pytest.fixture(scope="module")
def discriminator():
    return build_network(load_spec("pggan-small", "discriminator")).eval()


def _generator_paths(g, z, depth):
    """(new stage alone, upsampled to_rgb of the previous stage), computed stage by stage."""
    x = z.reshape(len(z), -1, 1, 1)
    for index in range(depth - 1):
        x = g.stage(index)(x)
    new = g.head(depth - 1)(g.stage(depth - 1)(x))
    old = F.interpolate(g.head(depth - 2)(x), scale_factor=2, mode="nearest")
    return new, old


@pytest.mark.parametrize("depth", [2, 3, 4])
def test_generator_fade_in(generator, depth):
    z = torch.randn(8, generator.latent_size)
    new, old = _generator_paths(generator, z, depth)
    with torch.no_grad():
        assert torch.allclose(generator(z, depth, 1.0), new, **TOL)
        assert torch.allclose(generator(z, depth, torch.tensor(1.0)), new, **TOL)
        assert torch.allclose(generator(z, depth, 0.0), old, **TOL)
        for alpha in (0.25, 0.5, 0.9):
            assert torch.allclose(generator(z, depth, alpha), (1 - alpha) * old + alpha * new, **TOL)
    assert generator(z, depth).shape == (8, 3, 4 * 2 ** (depth - 1), 4 * 2 ** (depth - 1))


def _discriminator_paths(d, images, depth):
    """(path through the new stage, path through the downsampled input), up to the shared stages."""
    top = d.num_stages - depth
    new = d.stage(top)(d.head(top)(images))
    old = d.head(top + 1)(F.avg_pool2d(images, 2))
    return new, old


def _finish(d, x, depth):
    for index in range(d.num_stages - depth + 1, d.num_stages):
        x = d.stage(index)(x)
    return x.reshape(-1)


@pytest.mark.parametrize("depth", [2, 3, 4])
def test_discriminator_fade_in(discriminator, depth):
    size = 4 * 2 ** (depth - 1)
    images = torch.randn(8, 3, size, size)
    new, old = _discriminator_paths(discriminator, images, depth)
    with torch.no_grad():
        assert torch.allclose(discriminator(images, depth, 1.0), _finish(discriminator, new, depth), **TOL)
        assert torch.allclose(discriminator(images, depth, 0.0), _finish(discriminator, old, depth), **TOL)
        for alpha in (0.25, 0.5, 0.9):
            blended = _finish(discriminator, (1 - alpha) * old + alpha * new, depth)
            assert torch.allclose(discriminator(images, depth, alpha), blended, **TOL)


def test_depth_one_ignores_alpha(generator, discriminator):
    z = torch.randn(4, generator.latent_size)
    with torch.no_grad():
        assert torch.equal(generator(z, 1, 0.3), generator(z, 1, 1.0))
        images = torch.randn(4, 3, 4, 4)
        assert torch.equal(discriminator(images, 1, 0.3), discriminator(images, 1, 1.0))


def test_parameter_names_name_the_stage_and_never_change_with_depth(generator):
    assert "stages.16x16.1.weight" in dict(generator.named_parameters())
    names = [name for name, _ in generator.named_parameters()]
    z = torch.randn(4, generator.latent_size)
    for depth in range(1, generator.num_stages + 1):
        generator(z, depth, 0.5)
        assert [name for name, _ in generator.named_parameters()] == names


def test_wrong_inputs_are_refused_clearly(generator, discriminator):
    with pytest.raises(ValueError, match=r"expects latents of shape \[N, 128\]"):
        generator(torch.randn(2, 64))
    with pytest.raises(ValueError, match="depth must be between 1 and 4"):
        generator(torch.randn(2, 128), depth=5)
    with pytest.raises(ValueError, match=r"at depth 2 expects images of shape \[N, 3×8×8\]"):
        discriminator(torch.randn(2, 3, 16, 16), depth=2)


def test_resolution_per_depth(generator, discriminator):
    assert [generator.resolution(d) for d in range(1, 5)] == [4, 8, 16, 32]
    assert [discriminator.resolution(d) for d in range(1, 5)] == [4, 8, 16, 32]
