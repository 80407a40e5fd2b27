"""The layers StyleGAN2 needs (Karras et al. 2020, as stylegan2-ada-pytorch computes them), each against its
plain definition: activations with a gain and a clamp, a single noise strength, the [1, 3, 3, 1] FIR
resampling, blur with explicit padding, the modulated convolution; and a small StyleGAN2-like pair of specs
that validates, counts, builds, fades and trains backward. (The comparison with the reference code itself,
which these tests cannot fetch, was made once by hand; its figures are in the change that added them.)"""
from __future__ import annotations

import math
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from conftest import assert_pair_fades_and_trains_backward

from archgan.layers import BuildContext, ShapeError, layer_type
from archgan.layers.activations import activation_label, normalize_activation
from archgan.layers.modules.resample import downsample, upsample
from archgan.networks import build_network
from archgan.networks.fade import downsample_for_old_path, upsample_old_image
from archgan.spec import SpecError, load_spec
from archgan.spec.summary import total_parameters

W_DIM = 6
CONTEXT = BuildContext(image_channels=3, style_size=W_DIM)
SQRT2 = math.sqrt(2)
TAPS = torch.tensor([1.0, 3.0, 3.0, 1.0])
FILTER = torch.outer(TAPS, TAPS) / 64  # StyleGAN2's filter, normalized to sum 1 (symmetric: flipping keeps it)


def options_of(type_name: str, **options) -> dict:
    merged = {"type": type_name, **layer_type(type_name).defaults(), **options}
    if "activation" in merged:
        merged["activation"] = normalize_activation(merged["activation"])
    return merged


def build(type_name: str, input_shape, context: BuildContext = CONTEXT, **options):
    """(module, output shape) of one layer; its parameter rule is checked against the module."""
    merged, kind = options_of(type_name, **options), layer_type(type_name)
    module = kind.build(merged, input_shape, context)
    assert kind.parameters(merged, input_shape, context) == sum(p.numel() for p in module.parameters())
    return module, kind.output_shape(merged, input_shape, context)


def label(type_name: str, **options) -> str:
    return layer_type(type_name).label(options_of(type_name, **options))


# ------------------------------------------------------------------------------------ activations

PLAIN = {"lrelu": lambda x: torch.where(x > 0, x, 0.2 * x), "relu": lambda x: torch.where(x > 0, x, 0 * x),
         "tanh": torch.tanh, "linear": lambda x: x}


@pytest.mark.parametrize("name", sorted(PLAIN))
def test_an_activation_multiplies_by_its_gain_then_clamps(name):
    x = torch.linspace(-3, 3, 25)
    module, _ = build(name, (25,), gain=2.5, clamp=1.5)
    assert torch.allclose(module(x), torch.clamp(PLAIN[name](x) * 2.5, -1.5, 1.5))
    module, _ = build(name, (25,), gain=SQRT2)
    assert torch.allclose(module(x), PLAIN[name](x) * SQRT2)


def test_without_gain_or_clamp_an_activation_is_torchs_own_module():
    """Networks built before `gain` and `clamp` existed keep their modules (and so their outputs)."""
    expected = {"lrelu": nn.LeakyReLU, "relu": nn.ReLU, "tanh": nn.Tanh, "linear": nn.Identity}
    for name, kind in expected.items():
        assert type(build(name, (4,))[0]) is kind
    assert normalize_activation("lrelu") == {"type": "lrelu", "slope": 0.2, "gain": 1.0, "clamp": None}


def test_an_activation_option_with_gain_and_clamp_acts_after_the_bias():
    """StyleGAN2's bias_act: bias, lrelu, ×√2, clamp."""
    conv, _ = build("conv", (1, 3, 3), channels=1, kernel=1,
                    activation={"type": "lrelu", "gain": SQRT2, "clamp": 2.0})
    with torch.no_grad():
        conv.weight.fill_(1.0)
        conv.bias.fill_(0.5)
    x = torch.linspace(-4, 4, 9).view(1, 1, 3, 3)
    assert torch.allclose(conv(x), torch.clamp(PLAIN["lrelu"](x + 0.5) * SQRT2, -2, 2))


def test_activation_labels_show_gain_and_clamp():
    assert activation_label(normalize_activation({"type": "lrelu", "gain": SQRT2})) == "lrelu(0.2)×√2"
    assert activation_label(normalize_activation({"type": "linear", "clamp": 256})) == "linear clamp 256"
    assert activation_label(normalize_activation({"type": "relu", "gain": 2, "clamp": 8})) == "relu×2 clamp 8"
    assert activation_label(normalize_activation("lrelu")) == "lrelu(0.2)"


# ------------------------------------------------------------------------------------------ noise


def test_a_single_noise_strength_is_one_learned_scalar():
    noise, shape = build("noise", (3, 4, 4), mode="fixed", strength="single")
    assert shape == (3, 4, 4) and noise.strength.shape == ()
    with torch.no_grad():
        noise.strength.fill_(0.5)
    x = torch.randn(2, 3, 4, 4)
    assert torch.allclose(noise(x), x + 0.5 * noise.fixed_noise.expand(2, 3, 4, 4))
    assert build("noise", (3, 4, 4))[0].strength.shape == (3,)  # the default stays one per channel
    assert label("noise", strength="single") == "noise random single"


# ------------------------------------------------------------------------------- FIR resampling


def _zero_stuffed(x: torch.Tensor) -> torch.Tensor:
    """x with a zero after each pixel in both directions: [N, C, 2H, 2W]."""
    n, c, h, w = x.shape
    out = torch.zeros(n, c, 2 * h, 2 * w)
    for i in range(h):
        for j in range(w):
            out[:, :, 2 * i, 2 * j] = x[:, :, i, j]
    return out


def _filtered(x: torch.Tensor, kernel: torch.Tensor, i: int, j: int) -> torch.Tensor:
    """Σ_ab kernel[a, b] · x[.., i - a, j - b], zero outside x: a true convolution, at one output position."""
    total = torch.zeros(x.shape[:2])
    for a in range(kernel.shape[0]):
        for b in range(kernel.shape[1]):
            if 0 <= i - a < x.shape[2] and 0 <= j - b < x.shape[3]:
                total += kernel[a, b] * x[:, :, i - a, j - b]
    return total


def test_fir_upsampling_is_zero_insertion_then_the_filter_times_four():
    """upfirdn2d.upsample2d's padding for ×2 and 4 taps is 2 before and 1 after: output (i, j) is the true
    convolution at (i + 1, j + 1) of the zero-stuffed map (i + 3 - 2, the kernel's last tap minus the padding)."""
    x = torch.randn(2, 3, 3, 4)
    layer, shape = build("upsample", (3, 3, 4), mode="fir")
    y = layer(x)
    assert shape == (3, 6, 8) and y.shape == (2, 3, 6, 8)
    stuffed = _zero_stuffed(x)
    for i in range(6):
        for j in range(8):
            assert torch.allclose(y[:, :, i, j], _filtered(stuffed, 4 * FILTER, i + 1, j + 1), atol=1e-6)
    assert torch.equal(upsample(x, 2, "fir"), y) and torch.equal(upsample_old_image(x, "fir"), y)  # the fade's path


def test_fir_downsampling_is_the_filter_then_every_second_pixel():
    """upfirdn2d.downsample2d pads 1 on each side for ÷2 and 4 taps: output (i, j) is the true convolution at
    (2i + 2, 2j + 2) of the input."""
    x = torch.randn(2, 3, 6, 8)
    layer, shape = build("downsample", (3, 6, 8), mode="fir")
    y = layer(x)
    assert shape == (3, 3, 4) and y.shape == (2, 3, 3, 4)
    for i in range(3):
        for j in range(4):
            assert torch.allclose(y[:, :, i, j], _filtered(x, FILTER, 2 * i + 2, 2 * j + 2), atol=1e-6)
    assert torch.equal(downsample(x, 2, "fir"), y) and torch.equal(downsample_for_old_path(x, "fir"), y)


def test_fir_resampling_keeps_a_constant_map_constant_away_from_the_borders():
    ones = torch.ones(1, 1, 8, 8)
    assert torch.allclose(upsample(ones, 2, "fir")[..., 2:-2, 2:-2], torch.ones(1, 1, 12, 12))
    assert torch.allclose(downsample(ones, 2, "fir")[..., 1:-1, 1:-1], torch.ones(1, 1, 2, 2))


@pytest.mark.parametrize("type_name", ["upsample", "downsample"])
def test_fir_resampling_by_another_factor_is_refused_saying_the_fix(type_name):
    with pytest.raises(ShapeError, match="factor of 2 only, not 4; use factor 2"):
        layer_type(type_name).output_shape(options_of(type_name, mode="fir", factor=4), (3, 8, 8), CONTEXT)
    assert label(type_name, mode="fir") == f"{type_name} ×2 fir" and label(type_name) == f"{type_name} ×2"


# ------------------------------------------------------------------------------------------- blur


@pytest.mark.parametrize("padding,size", [([2, 2], 7), ([1, 1], 5), ([0, 3], 6)])
def test_blur_with_padding_pads_each_side_as_given(padding, size):
    x = torch.randn(2, 3, 6, 6)
    blur, shape = build("blur", (3, 6, 6), taps=[1, 3, 3, 1], padding=padding)
    y = blur(x)
    assert shape == (3, size, size) and y.shape == (2, 3, size, size)
    before = padding[0]
    for i in range(size):
        for j in range(size):  # output (i, j) sits over padded (i..i+3), input (i - before ..): the last tap at i + 3
            assert torch.allclose(y[:, :, i, j], _filtered(x, FILTER, i + 3 - before, j + 3 - before), atol=1e-6)
    assert label("blur", taps=[1, 3, 3, 1], padding=padding) == f"blur [1, 3, 3, 1] pad {padding}"


def test_blur_padding_too_small_for_the_taps_is_refused():
    with pytest.raises(ShapeError, match=r"4 taps with padding \[0, 0\] do not fit a 2×2 input; pad at least 3"):
        layer_type("blur").output_shape(options_of("blur", taps=[1, 3, 3, 1], padding=[0, 0]), (3, 2, 2), CONTEXT)


# -------------------------------------------------------------------------------- modulated_conv


def _modulated(conv: nn.Module, style: torch.Tensor, demodulate: bool) -> torch.Tensor:
    """Each sample's weight [N, O, I, k, k], computed as StyleGAN2 defines it."""
    affine_weight = conv.affine.weight * conv.affine.weight_scale
    scales = style @ affine_weight.T + conv.affine.bias  # [N, I]
    out_channels, in_channels, kernel, _ = conv.weight.shape
    if not demodulate:
        scales = scales / math.sqrt(in_channels * kernel * kernel)
    weights = []
    for n in range(style.shape[0]):
        weight = conv.weight * scales[n].view(1, -1, 1, 1)
        if demodulate:
            weight = weight / torch.sqrt(weight.square().sum(dim=(1, 2, 3), keepdim=True) + 1e-8)
        weights.append(weight)
    return torch.stack(weights)


def _styled(conv: nn.Module, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    return conv(x, {"style": style[:, None]})


@pytest.mark.parametrize("demodulate,kernel", [(True, 3), (False, 1), (False, 3)])
def test_modulated_conv_is_a_convolution_with_each_samples_modulated_weight(demodulate, kernel):
    conv, shape = build("modulated_conv", (4, 5, 5), channels=3, kernel=kernel, demodulate=demodulate)
    with torch.no_grad():
        conv.affine.bias.normal_()  # scales that differ by channel and sample
    x, style = torch.randn(3, 4, 5, 5), torch.randn(3, W_DIM)
    y = _styled(conv, x, style)
    assert shape == (3, 5, 5) and y.shape == (3, 3, 5, 5)
    weights = _modulated(conv, style, demodulate)
    expected = torch.cat([F.conv2d(x[n:n + 1], weights[n], padding=kernel // 2) for n in range(3)])
    assert torch.allclose(y, expected, atol=1e-5)


def test_demodulated_output_channels_have_unit_norm_weights():
    """The effective kernel, read off the output for an impulse in each input channel, has norm 1 per output
    channel and sample, whatever the style and the weight's scale."""
    conv, _ = build("modulated_conv", (4, 3, 3), channels=5)
    with torch.no_grad():
        conv.weight.mul_(7.0)
    style = torch.randn(2, W_DIM) * 3
    squares = torch.zeros(2, 5)
    for channel in range(4):
        impulse = torch.zeros(2, 4, 3, 3)
        impulse[:, channel, 1, 1] = 1.0
        squares += _styled(conv, impulse, style).square().sum(dim=(2, 3))
    assert torch.allclose(squares, torch.ones(2, 5), atol=1e-5)


@pytest.mark.parametrize("kernel", [3, 1])
def test_modulated_conv_up_2_is_fir_upsampling_then_the_convolution(kernel):
    """StyleGAN2's upsampling convolution (conv2d_resample with up 2): the map upsampled as upsample2d (zeros
    inserted, the filter ×4, padded kernel//2 + 2 before and kernel//2 + 1 after), then convolved with each
    sample's weight without padding. Its transposed convolution makes the kernel act as a true convolution:
    mirrored compared with torch's conv2d, hence the flip."""
    conv, shape = build("modulated_conv", (4, 3, 5), channels=2, kernel=kernel, up=2)
    with torch.no_grad():
        conv.affine.bias.normal_()
    x, style = torch.randn(2, 4, 3, 5), torch.randn(2, W_DIM)
    y = _styled(conv, x, style)
    assert shape == (2, 6, 10) and y.shape == (2, 2, 6, 10)
    padding = kernel // 2
    stuffed = F.pad(_zero_stuffed(x), (padding + 2, padding + 1) * 2)
    height, width = stuffed.shape[2] - 3, stuffed.shape[3] - 3
    upsampled = torch.stack([torch.stack([_filtered(stuffed, 4 * FILTER, i + 3, j + 3) for j in range(width)], dim=-1)
                             for i in range(height)], dim=-2)
    weights = _modulated(conv, style, demodulate=True)
    expected = torch.cat([F.conv2d(upsampled[n:n + 1], weights[n].flip(2, 3)) for n in range(2)])
    assert torch.allclose(y, expected, atol=1e-5)


def test_modulated_conv_starts_as_stylegan2s_and_its_gradients_reach_weight_affine_and_input():
    conv, _ = build("modulated_conv", (32, 4, 4), BuildContext(image_channels=3, style_size=64), channels=16)
    assert conv.affine.weight.shape == (32, 64) and conv.affine.weight_scale == pytest.approx(1 / 8)
    assert torch.equal(conv.affine.bias, torch.ones(32))  # the scales start near 1
    assert 0.9 < conv.affine.weight.std().item() < 1.1 and 0.9 < conv.weight.std().item() < 1.1
    x, style = torch.randn(2, 32, 4, 4, requires_grad=True), torch.randn(2, 64, requires_grad=True)
    conv(x, {"style": style[:, None]}).square().sum().backward()
    for gradient in (conv.weight.grad, conv.affine.weight.grad, conv.affine.bias.grad, x.grad, style.grad):
        assert gradient is not None and gradient.abs().sum() > 0
    small, _ = build("modulated_conv", (2, 3, 3), channels=2, up=2)
    small = small.double()
    assert torch.autograd.gradcheck(lambda x, style: small(x, {"style": style[:, None]}),
                                    (torch.randn(2, 2, 3, 3, dtype=torch.float64, requires_grad=True),
                                     torch.randn(2, W_DIM, dtype=torch.float64, requires_grad=True)))


class _Styled(nn.Module):
    def __init__(self, conv: nn.Module):
        super().__init__()
        self.conv = conv

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        return self.conv(x, {"style": style[:, None]})


@pytest.mark.parametrize("up,demodulate", [(1, True), (2, True), (1, False)])
def test_an_exported_modulated_conv_takes_any_batch_and_computes_the_same(up, demodulate):
    """Export scales the activations instead of building each sample's weight (ONNX's grouped convolution
    cannot have the batch size as its number of groups); traced or exported at a batch of 2, it runs 3."""
    model = _Styled(build("modulated_conv", (4, 5, 5), channels=3, up=up, demodulate=demodulate)[0]).eval()
    x, style = torch.randn(3, 4, 5, 5), torch.randn(3, W_DIM)
    with torch.no_grad():
        expected = model(x, style)
        batch = torch.export.Dim("batch", min=1)
        exported = torch.export.export(model, (x[:2], style[:2]), dynamic_shapes=({0: batch}, {0: batch}))
        assert torch.allclose(exported.module()(x, style), expected, atol=1e-5)
        with warnings.catch_warnings():  # torch.jit.trace is deprecated, and still what torchscript export uses
            warnings.simplefilter("ignore", FutureWarning)
            traced = torch.jit.trace(model, (x[:2], style[:2]))
        assert torch.allclose(traced(x, style), expected, atol=1e-5)


def test_modulated_conv_counts_labels_and_refuses_what_it_cannot_take():
    options = options_of("modulated_conv", channels=5)
    assert layer_type("modulated_conv").parameters(options, (4, 8, 8), CONTEXT) == W_DIM * 4 + 4 + 5 * 4 * 9
    assert label("modulated_conv", channels=5, up=2) == "modconv 3×3 ×2"
    assert label("modulated_conv", channels=3, kernel=1, demodulate=False) == "modconv 1×1 no demod"
    with pytest.raises(ShapeError, match="declare one at the top of the generator file"):
        layer_type("modulated_conv").output_shape(options, (4, 8, 8), BuildContext(image_channels=3))
    with pytest.raises(ShapeError, match="needs an odd kernel"):
        layer_type("modulated_conv").output_shape(options_of("modulated_conv", channels=5, kernel=4), (4, 8, 8),
                                                  CONTEXT)


# -------------------------------------------------------------------- a StyleGAN2-like pair of specs

GENERATOR = """
network: generator
latent_size: 8
fade_resample: fir
mapping: [{type: pixelnorm}, {type: dense, channels: 8, lr_multiplier: 0.01, equalized_lr: true, activation: lrelu}]
templates:
  layer:
    params: [channels, up]
    layers:
      - {type: modulated_conv, channels: $channels, up: $up}
      - {type: noise, strength: single}
      - {type: bias, activation: {type: lrelu, gain: 1.4142135623730951, clamp: 256}}
  rgb:
    - {type: modulated_conv, channels: 3, kernel: 1, demodulate: false}
    - {type: bias, activation: {type: linear, clamp: 256}}
to_rgb: [{use: rgb}]
stages:
  - resolution: 4
    layers: [{type: constant, channels: 8}, {use: layer, channels: 8, up: 1}]
  - resolution: 8
    layers: [{use: layer, channels: 8, up: 2}, {use: layer, channels: 8, up: 1}]
"""

DISCRIMINATOR = """
network: discriminator
fade_resample: fir
defaults:
  conv: {equalized_lr: true, gain: 1.0, activation: {type: lrelu, gain: 1.4142135623730951}}
stages:
  - resolution: 8
    from_rgb: [{type: from_rgb, channels: 8, equalized_lr: true, gain: 1.0, activation: lrelu}]
    layers:
      - type: residual
        gain: 0.7071067811865476
        main:
          - {type: conv, channels: 8}
          - {type: blur, taps: [1, 3, 3, 1], padding: [2, 2]}
          - {type: conv, channels: 8, stride: 2, padding: 0}
        shortcut:
          - {type: blur, taps: [1, 3, 3, 1], padding: [1, 1]}
          - {type: conv, channels: 8, kernel: 1, stride: 2, padding: 0, bias: false, activation: linear}
  - resolution: 4
    layers:
      - {type: minibatch_stddev, group_size: 2}
      - {type: conv, channels: 8}
      - {type: flatten}
      - {type: dense, channels: 1}
"""


def test_a_stylegan2_like_pair_counts_builds_fades_and_trains_backward(write):
    generator = load_spec(write(GENERATOR), "generator")
    discriminator = load_spec(write(DISCRIMINATOR, "discriminator.yaml"), "discriminator")
    g, d = build_network(generator), build_network(discriminator)  # per-layer counts: test_core, every built-in
    for spec, network in ((generator, g), (discriminator, d)):
        assert total_parameters(spec) == sum(p.numel() for p in network.parameters())
    assert_pair_fades_and_trains_backward(g, d)


def test_a_fir_resampling_by_four_in_a_spec_is_refused_at_its_line(write):
    path = write(GENERATOR.replace("{use: layer, channels: 8, up: 2}", "{type: upsample, mode: fir}, "
                                   "{type: upsample, factor: 4, mode: fir}"))
    with pytest.raises(SpecError, match="factor of 2 only"):
        load_spec(path, "generator")
