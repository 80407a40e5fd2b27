"""Layer math: equalized learning rate, pixelnorm, minibatch stddev, against plain computations."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from archgan.layers import BuildContext, layer_type
from archgan.layers.activations import normalize_activation
from archgan.networks import build_network
from archgan.spec import load_spec

CONTEXT = BuildContext(image_channels=3)


def build(type_name: str, shape, **options):
    kind = layer_type(type_name)
    merged = {"type": type_name, **kind.defaults(), **options}
    if "activation" in merged:
        merged["activation"] = normalize_activation(merged["activation"])
    return kind.build(merged, shape, CONTEXT)


def test_equalized_conv_draws_unit_normal_weights_and_scales_them_at_run_time():
    conv = build("conv", (512, 8, 8), channels=512, equalized_lr=True)
    weight = conv.weight.detach()
    assert abs(weight.mean().item()) < 0.005 and abs(weight.std().item() - 1) < 0.005
    assert torch.count_nonzero(conv.bias) == 0
    assert conv.weight_scale == pytest.approx(math.sqrt(2) / math.sqrt(512 * 9))
    x = torch.randn(2, 512, 8, 8)
    expected = F.conv2d(x, weight * math.sqrt(2) / math.sqrt(512 * 9), conv.bias, padding=1)
    assert torch.allclose(conv(x), expected, atol=1e-5)


@pytest.mark.parametrize(
    "type_name,shape,options,fan_in,gain",
    [
        ("dense", (512, 1, 1), {"channels": 512, "reshape": [4, 4], "gain": math.sqrt(2) / 4}, 512, math.sqrt(2) / 4),
        ("dense", (512,), {"channels": 1, "gain": 1.0}, 512, 1.0),
        ("to_rgb", (16, 8, 8), {}, 16, 1.0),
        ("from_rgb", (3, 8, 8), {"channels": 16}, 3, math.sqrt(2)),
        ("conv_transpose", (128, 1, 1), {"channels": 64}, 128 * 16, math.sqrt(2)),
    ],
)
def test_equalized_scale_is_gain_over_sqrt_fan_in(type_name, shape, options, fan_in, gain):
    layer = build(type_name, shape, equalized_lr=True, **options)
    assert layer.weight_scale == pytest.approx(gain / math.sqrt(fan_in))
    effective = layer.weight.detach() * layer.weight_scale
    if effective.numel() > 10_000:
        assert effective.std().item() == pytest.approx(gain / math.sqrt(fan_in), rel=0.02)


def test_official_generator_gains():
    """to_rgb and the last dense use gain 1; the 4×4 dense of the generator sqrt(2)/4; others sqrt(2)."""
    g = build_network(load_spec("pggan", "generator"))
    d = build_network(load_spec("pggan", "discriminator"))
    assert g.stage(0)[1].weight_scale == pytest.approx(math.sqrt(2) / 4 / math.sqrt(512))
    assert g.stage(0)[3].weight_scale == pytest.approx(math.sqrt(2) / math.sqrt(512 * 9))
    heads = [g.head(index)[0] for index in range(g.num_stages)]
    assert all(head.weight_scale == pytest.approx(1 / math.sqrt(head.weight.shape[1])) for head in heads)
    assert d.stage(-1)[3].weight_scale == pytest.approx(1 / math.sqrt(512))
    assert d.stage(-1)[2].weight_scale == pytest.approx(math.sqrt(2) / math.sqrt(512 * 16))


def test_dense_reshape_has_one_bias_per_channel():
    dense = build("dense", (32,), channels=8, reshape=[4, 4], equalized_lr=True)
    assert dense.bias.shape == (8,)
    with torch.no_grad():
        dense.bias.copy_(torch.arange(8.0))
        out = dense(torch.zeros(2, 32))
    assert out.shape == (2, 8, 4, 4)
    assert torch.equal(out[1, 5], torch.full((4, 4), 5.0))


def test_pixelnorm_gives_unit_mean_square_per_pixel():
    norm = build("pixelnorm", (64, 8, 8))
    x = torch.randn(4, 64, 8, 8) * torch.rand(4, 1, 8, 8) * 100
    y = norm(x)
    assert torch.allclose(y.square().mean(dim=1), torch.ones(4, 8, 8), atol=1e-5)
    latent = torch.randn(4, 512) * 7
    assert torch.allclose(norm(latent).square().mean(dim=1), torch.ones(4), atol=1e-5)


def _stddev_reference(x: torch.Tensor, group_size: int, num_features: int) -> torch.Tensor:
    """Plain loops over samples: sample n's group is {n mod M + k·M}, M = N / group size."""
    n, c, h, w = x.shape
    group = min(group_size, n)
    m = n // group
    extra = torch.empty(n, num_features, h, w, dtype=torch.float64)
    width = c // num_features
    for sample in range(n):
        members = x[[sample % m + k * m for k in range(group)]].double()
        for feature in range(num_features):
            part = members[:, feature * width : (feature + 1) * width]
            variance = ((part - part.mean(dim=0)) ** 2).mean(dim=0)
            extra[sample, feature] = torch.sqrt(variance + 1e-8).mean()
    return torch.cat([x.double(), extra], dim=1)


@pytest.mark.parametrize("group_size", [1, 2, 4])
@pytest.mark.parametrize("num_features", [1, 2])
def test_minibatch_stddev_matches_a_plain_computation(group_size, num_features):
    layer = build("minibatch_stddev", (6, 4, 4), group_size=group_size, num_features=num_features)
    x = torch.randn(8, 6, 4, 4)
    assert torch.allclose(layer(x).double(), _stddev_reference(x, group_size, num_features), atol=1e-6)


def test_minibatch_stddev_batch_smaller_than_group_is_one_group():
    layer = build("minibatch_stddev", (6, 4, 4), group_size=4)
    x = torch.randn(3, 6, 4, 4)
    assert torch.allclose(layer(x).double(), _stddev_reference(x, 3, 1), atol=1e-6)


def test_minibatch_stddev_refuses_a_batch_that_does_not_divide():
    layer = build("minibatch_stddev", (6, 4, 4), group_size=4)
    with pytest.raises(ValueError, match="a batch of 6 cannot be split into groups of 4"):
        layer(torch.randn(6, 6, 4, 4))


def test_spectral_norm_bounds_the_largest_singular_value():
    conv = build("conv", (8, 8, 8), channels=16, spectral_norm=True)
    conv.train()
    for _ in range(30):
        conv(torch.randn(2, 8, 8, 8))
    conv.eval()
    sigma = torch.linalg.matrix_norm(conv.weight.detach().reshape(16, -1), ord=2)
    assert sigma.item() == pytest.approx(1.0, abs=1e-3)


def test_conv_transpose_and_resampling_shapes():
    up = build("conv_transpose", (64, 8, 8), channels=32, kernel=4, stride=2, padding=1)
    assert up(torch.randn(2, 64, 8, 8)).shape == (2, 32, 16, 16)
    assert layer_type("conv_transpose").output_shape(
        {"type": "conv_transpose", **layer_type("conv_transpose").defaults(), "channels": 32, "kernel": 4,
         "stride": 2, "padding": 1}, (64, 8, 8), CONTEXT) == (32, 16, 16)
    bilinear = build("upsample", (3, 4, 4), mode="bilinear")
    x = torch.randn(1, 3, 4, 4)
    assert torch.allclose(bilinear(x), F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False))
    assert torch.equal(build("downsample", (3, 4, 4))(x), F.avg_pool2d(x, 2))


def test_activations():
    x = torch.linspace(-2, 2, 9)
    assert torch.allclose(build("lrelu", (9,), slope=0.1)(x), torch.where(x > 0, x, 0.1 * x))
    assert torch.equal(build("linear", (9,))(x), x)
    conv = build("conv", (1, 3, 3), channels=1, kernel=1, activation={"type": "lrelu", "slope": 0.5})
    with torch.no_grad():
        conv.weight.fill_(1.0)
        conv.bias.zero_()
    assert torch.allclose(conv(-torch.ones(1, 1, 3, 3)), torch.full((1, 1, 3, 3), -0.5))
