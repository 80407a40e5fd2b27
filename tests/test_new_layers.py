"""The layer types StyleGAN- and SNGAN-like stages need: each one's shape and parameter rule against its
module, its numerics against a plain PyTorch computation, its options' schema; `init` and `lr_multiplier` on
weighted layers; noise drawn from the step's generator; one small spec of several new types that trains."""
from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F

from conftest import assert_pair_fades_and_trains_backward

from archgan.layers import BuildContext, layer_type
from archgan.layers.activations import normalize_activation
from archgan.layers.modules.noise import Draws
from archgan.networks import build_network
from archgan.networks.randomness import drawing_from
from archgan.spec import SpecError, load_spec
from archgan.spec.shapes import layer_parameters, trace
from archgan.spec.stages import stage_shapes
from archgan.training.config import load_training_config
from archgan.training.run import RunSettings
from archgan.training.trainer import Trainer

CONTEXT = BuildContext(image_channels=3)


def options_of(type_name: str, **options) -> dict:
    merged = {"type": type_name, **layer_type(type_name).defaults(), **options}
    if "activation" in merged:
        merged["activation"] = normalize_activation(merged["activation"])
    return merged


def build(type_name: str, input_shape, **options):
    """(module, output shape and parameter count by the registry's rules) of one layer."""
    merged, kind = options_of(type_name, **options), layer_type(type_name)
    module = kind.build(merged, input_shape, CONTEXT)
    assert kind.parameters(merged, input_shape, CONTEXT) == sum(p.numel() for p in module.parameters())
    return module, kind.output_shape(merged, input_shape, CONTEXT)


def run(module, shape, batch=3):
    x = torch.randn(batch, *shape)
    return x, module(x)


# ---------------------------------------------------------------------------------------- norms


@pytest.mark.parametrize("affine", [False, True])
def test_instancenorm_normalizes_each_channel_of_each_sample(affine):
    norm, out_shape = build("instancenorm", (4, 5, 5), affine=affine)
    x, y = run(norm, (4, 5, 5))
    assert tuple(y.shape[1:]) == out_shape == (4, 5, 5)
    mean, var = x.mean(dim=(2, 3), keepdim=True), x.var(dim=(2, 3), unbiased=False, keepdim=True)
    assert torch.allclose(y, (x - mean) / torch.sqrt(var + 1e-5), atol=1e-5)


@pytest.mark.parametrize("shape", [(4, 3, 3), (6,)])
def test_layernorm_normalizes_each_sample_over_all_its_values(shape):
    norm, out_shape = build("layernorm", shape)
    x, y = run(norm, shape)
    assert tuple(y.shape[1:]) == out_shape == shape
    dims = tuple(range(1, x.ndim))
    mean, var = x.mean(dim=dims, keepdim=True), x.var(dim=dims, unbiased=False, keepdim=True)
    assert torch.allclose(y, (x - mean) / torch.sqrt(var + 1e-5), atol=1e-5)
    assert sum(p.numel() for p in norm.parameters()) == 2 * math.prod(shape)


# ---------------------------------------------------------------------------------------- shape


@pytest.mark.parametrize("mode,reduce", [("sum", torch.sum), ("mean", torch.mean)])
def test_global_pool_sums_or_averages_over_space(mode, reduce):
    pool, out_shape = build("global_pool", (4, 3, 5), mode=mode)
    x, y = run(pool, (4, 3, 5))
    assert out_shape == (4,) and torch.allclose(y, reduce(x.flatten(2), dim=2))


def test_flatten_and_reshape_keep_the_values_in_torch_order():
    flatten, flat_shape = build("flatten", (4, 2, 3))
    x, y = run(flatten, (4, 2, 3))
    assert flat_shape == (24,) and torch.equal(y, x.reshape(3, 24))
    reshape, map_shape = build("reshape", (24,), shape=[6, 2, 2])
    assert map_shape == (6, 2, 2) and torch.equal(reshape(y), x.reshape(3, 6, 2, 2))


def test_reshape_to_another_number_of_values_is_refused():
    with pytest.raises(ValueError, match=r"cannot reshape 4×2×3 \(24 values\) to 5×5 \(25 values\)"):
        layer_type("reshape").output_shape(options_of("reshape", shape=[5, 5]), (4, 2, 3), CONTEXT)


# ----------------------------------------------------------------------------------------- blur


@pytest.mark.parametrize("taps", [[1, 2, 1], [1, 3, 3, 1], [1, 2]])
def test_blur_is_the_normalized_outer_product_padded_as_upfirdn2d(taps):
    blur, out_shape = build("blur", (2, 6, 6), taps=taps)
    x, y = run(blur, (2, 6, 6))
    assert tuple(y.shape[1:]) == out_shape == (2, 6, 6)
    tap = torch.tensor(taps, dtype=torch.float32)
    kernel = torch.outer(tap, tap) / tap.sum() ** 2
    size = len(taps)
    padded = F.pad(x, (size // 2, (size - 1) // 2, size // 2, (size - 1) // 2))
    expected = torch.cat([F.conv2d(padded[:, c:c + 1], kernel.flip(0, 1)[None, None]) for c in range(2)], dim=1)
    assert torch.allclose(y, expected, atol=1e-6)
    assert "kernel" not in blur.state_dict()  # the spec's filter, not a weight


def test_blur_of_a_constant_map_is_constant_inside():
    blur, _ = build("blur", (1, 6, 6))
    y = blur(torch.ones(1, 1, 6, 6))
    assert torch.allclose(y[..., 1:-1, 1:-1], torch.ones(1, 1, 4, 4))


# ------------------------------------------------------------------------- constant and noise


def test_constant_is_one_learned_map_for_every_sample():
    constant, out_shape = build("constant", (16, 1, 1), channels=8, size=4)
    _, y = run(constant, (16, 1, 1), batch=5)
    assert out_shape == (8, 4, 4) and y.shape == (5, 8, 4, 4)
    assert torch.equal(y[0], constant.value) and torch.equal(y[4], constant.value)
    y.sum().backward()
    assert torch.equal(constant.value.grad, torch.full((8, 4, 4), 5.0))


def _noise(mode: str):
    noise, out_shape = build("noise", (3, 4, 4), mode=mode)
    assert out_shape == (3, 4, 4)
    with torch.no_grad():
        noise.strength.copy_(torch.tensor([0.0, 1.0, 2.0]))
    return noise


def test_random_noise_draws_from_the_generator_it_is_handed():
    noise, x = _noise("random"), torch.zeros(2, 3, 4, 4)
    outputs = []
    for seed in (1, 1, 2):
        torch.manual_seed(seed + 100)  # the global RNG must not matter
        with drawing_from(Draws(torch.Generator().manual_seed(seed)), noise):
            outputs.append(noise(x))
    assert torch.equal(outputs[0], outputs[1]) and not torch.equal(outputs[0], outputs[2])
    expected = torch.randn(2, 1, 4, 4, generator=torch.Generator().manual_seed(1)) * torch.tensor([0.0, 1, 2]).view(1, 3, 1, 1)
    assert torch.allclose(outputs[0], expected)
    assert noise.draws is None  # only for the duration of the block


def test_random_noise_for_some_rows_is_those_rows_of_the_whole_batchs_draw():
    """Several processes (or micro-batches) each draw the global batch and keep their rows: together one batch."""
    noise, x = _noise("random"), torch.zeros(4, 3, 4, 4)
    with drawing_from(Draws(torch.Generator().manual_seed(0)), noise):
        whole = noise(x)
    rows = torch.tensor([2, 3])
    with drawing_from(Draws(torch.Generator().manual_seed(0), rows, batch=4), noise):
        part = noise(x[rows])
    assert torch.equal(part, whole[rows])


def test_fixed_noise_is_a_saved_buffer():
    noise, x = _noise("fixed"), torch.zeros(2, 3, 4, 4)
    assert set(noise.state_dict()) == {"strength", "fixed_noise"}
    y = noise(x)
    assert torch.equal(y, noise(x)) and torch.allclose(y[:, 2], 2 * noise.fixed_noise[:, 0].expand(2, 4, 4))


# ------------------------------------------------------------------------ init and lr_multiplier


def test_lr_multiplier_stores_weights_divided_and_scales_them_back_at_run_time():
    """stylegan2-ada-pytorch's FullyConnectedLayer: weight randn/lr_mul, weight_gain lr_mul/sqrt(fan_in),
    bias_gain lr_mul; the layer computes the same, its gradients (and so Adam's steps) shrink by lr_mul."""
    torch.manual_seed(0)
    slow, _ = build("dense", (256,), channels=64, equalized_lr=True, gain=1.0, lr_multiplier=0.01)
    assert slow.weight_scale == pytest.approx(0.01 / math.sqrt(256)) and slow.bias_scale == pytest.approx(0.01)
    assert slow.weight.detach().std().item() == pytest.approx(100, rel=0.03)
    with torch.no_grad():
        slow.bias.fill_(3.0)
    x = torch.randn(5, 256)
    expected = F.linear(x, slow.weight.detach() * 0.01 / 16, torch.full((64,), 0.03))
    assert torch.allclose(slow(x), expected, atol=1e-5)
    torch.manual_seed(0)
    plain, _ = build("dense", (256,), channels=64, equalized_lr=True, gain=1.0)
    with torch.no_grad():
        plain.bias.fill_(0.03)
    assert torch.allclose(plain(x), slow(x), atol=1e-5)  # the same start
    adam_steps = []
    for layer in (plain, slow):
        optimizer = torch.optim.Adam(layer.parameters(), lr=1e-3)
        before = layer(x).detach()
        layer(x).square().sum().backward()
        optimizer.step()
        adam_steps.append((layer(x).detach() - before).abs().mean().item())
    assert adam_steps[1] == pytest.approx(adam_steps[0] * 0.01, rel=0.05)


@pytest.mark.parametrize("type_name,shape,options", [("conv", (4, 6, 6), {"channels": 8}),
                                                     ("conv_transpose", (4, 2, 2), {"channels": 8}),
                                                     ("to_rgb", (4, 6, 6), {}),
                                                     ("from_rgb", (3, 6, 6), {"channels": 8})])
def test_lr_multiplier_applies_to_every_weighted_layer(type_name, shape, options):
    layer, _ = build(type_name, shape, lr_multiplier=0.1, init="normal", init_scale=0.5, **options)
    assert layer.weight_scale == pytest.approx(0.1) and layer.bias_scale == pytest.approx(0.1)
    assert (layer.weight.detach() * 0.1).std().item() == pytest.approx(0.5, rel=0.25)


def test_init_draws_the_weight_as_asked():
    torch.manual_seed(1)
    normal, _ = build("dense", (400,), channels=300, init="normal", init_scale=0.02)
    weight = normal.weight.detach()
    assert weight.std().item() == pytest.approx(0.02, rel=0.02) and torch.count_nonzero(normal.bias) == 0
    orthogonal, _ = build("dense", (40,), channels=30, init="orthogonal", init_scale=2.0)
    rows = orthogonal.weight.detach()
    assert torch.allclose(rows @ rows.T, 4 * torch.eye(30), atol=1e-4)
    xavier, _ = build("conv", (8, 6, 6), channels=16, init="xavier")
    bound = math.sqrt(6 / (8 * 9 + 16 * 9))
    assert xavier.weight.detach().abs().max().item() <= bound
    assert xavier.weight.detach().std().item() == pytest.approx(bound / math.sqrt(3), rel=0.1)


# --------------------------------------------------------------------------------- option schema

GENERATOR = """
network: generator
latent_size: 8
image_channels: 3
stages:
  - resolution: 4
    layers:
      - {type: constant, channels: 8}
      - {type: noise}
      - {type: conv, channels: 8, activation: lrelu, init: orthogonal}
      - {type: instancenorm}
    to_rgb: [{type: to_rgb}]
  - resolution: 8
    layers:
      - {type: upsample}
      - {type: blur, taps: [1, 3, 3, 1]}
      - {type: conv, channels: 8, activation: lrelu, lr_multiplier: 0.5}
      - {type: noise, mode: fixed}
    to_rgb: [{type: to_rgb}]
"""

DISCRIMINATOR = """
network: discriminator
image_channels: 3
stages:
  - resolution: 8
    from_rgb: [{type: from_rgb, channels: 8}]
    layers: [{type: conv, channels: 8, activation: lrelu}, {type: blur}, {type: downsample}]
  - resolution: 4
    layers:
      - {type: conv, channels: 8, activation: lrelu, init: xavier}
      - {type: layernorm}
      - {type: global_pool, mode: sum}
      - {type: reshape, shape: [2, 2, 2]}
      - {type: flatten}
      - {type: dense, channels: 1}
"""


@pytest.mark.parametrize("entry,message", [
    ("{type: noise, mode: sometimes}", "mode"),
    ("{type: blur, taps: [1, -2, 1]}", "taps"),
    ("{type: global_pool, mode: max}", "mode"),
    ("{type: reshape, shape: [0, 4]}", "shape"),
    ("{type: conv, channels: 8, init: kaiming}", "init"),
    ("{type: conv, channels: 8, lr_multiplier: 0}", "lr_multiplier"),
    ("{type: constant, channels: 8, size: 0}", "size"),
    ("{type: instancenorm, eps: -1}", "eps"),
])
def test_bad_option_values_are_refused_naming_the_file_line_and_option(entry, message, write):
    text = GENERATOR.replace("{type: instancenorm}", entry)
    path = write(text)
    with pytest.raises(SpecError) as caught:
        load_spec(path, "generator")
    error = str(caught.value)
    assert f"{path}:" in error and f".{message}" in error, error


def test_a_shape_that_does_not_fit_is_refused_in_the_users_terms(write):
    path = write(DISCRIMINATOR.replace("shape: [2, 2, 2]", "shape: [3, 3]"), "discriminator.yaml")
    with pytest.raises(SpecError, match=r"cannot reshape 8 \(8 values\) to 3×3 \(9 values\)"):
        load_spec(path, "discriminator")


# ---------------------------------------------------------------------------- a spec that trains


def test_a_spec_of_new_types_counts_builds_and_runs_forward_and_backward(write):
    generator = load_spec(write(GENERATOR), "generator")
    discriminator = load_spec(write(DISCRIMINATOR, "discriminator.yaml"), "discriminator")
    for spec in (generator, discriminator):
        network = build_network(spec)
        context = spec.context
        for index, (stage, shapes) in enumerate(zip(spec.stages, stage_shapes(spec))):
            for (layer, received, _), module in zip(trace(stage.layers, shapes.layers_in, context), network.stage(index),
                                                    strict=True):
                assert layer_parameters(layer, received, context) == sum(p.numel() for p in module.parameters())
    g, d = build_network(generator), build_network(discriminator)
    assert_pair_fades_and_trains_backward(g, d)


def test_a_training_step_with_noise_layers_is_exact_on_a_rerun(write, image_folder, tmp_path):
    """The step's noise comes from its TrainState generator: the same state gives the same step, whatever
    the global RNG did in between."""
    settings = RunSettings(generator=load_spec(write(GENERATOR), "generator"),
                           discriminator=load_spec(write(DISCRIMINATOR, "discriminator.yaml"), "discriminator"),
                           training=load_training_config(None, {"batch_size": 4, "ema_beta": 0}),
                           images_dir=str(image_folder), run_dir=str(tmp_path / "run"),
                           sample_dir=str(tmp_path / "run" / "samples"), model_dir=str(tmp_path / "run" / "checkpoints"),
                           num_workers=1)
    trainer = Trainer(settings)
    trainer.train_step()
    with torch.no_grad():  # noise that matters, as after some training
        for module in trainer.state.generator.modules():
            if hasattr(module, "strength"):
                module.strength.fill_(1.0)
    snapshot = copy.deepcopy(trainer.state.state_dict())
    torch.manual_seed(1)
    first = {k: v.item() for k, v in trainer.train_step().items()}
    trainer.state.load_state_dict(copy.deepcopy(snapshot))
    torch.manual_seed(2)
    again = {k: v.item() for k, v in trainer.train_step().items()}
    assert first == again
    fixed = [name for name in trainer.state.generator.state_dict() if name.endswith("fixed_noise")]
    assert fixed == ["stages.8x8.3.fixed_noise"]
