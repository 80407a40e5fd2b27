"""Style-based generators (StyleGAN): the mapping network and the layers that read its style, computed as
their definitions say; the stylegan built-in's counts against the official code's variables (counted from
its source by scripts/count_stylegan.py); truncation and style mixing; the average w in training,
checkpoints and the averaged generator; exact resume and two processes as one with mixing."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from test_distributed import assert_two_processes_train_as_one, train_run

from archgan.cli import main
from archgan.layers.modules.style import StyleModulation
from archgan.networks import build_network
from archgan.networks.styles import StyleMixing, Truncation
from archgan.spec import SpecError, load_spec
from archgan.spec.stages import style_counts
from archgan.spec.summary import mapping_rows, summarize, total_parameters
from archgan.training.config import load_training_config
from archgan.training.files import list_checkpoints
from archgan.training.phases import w_avg_step
from archgan.training.plan import RunPlan, check_fit
from archgan.training.step import StepContext

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import count_stylegan  # noqa: E402  (the official variables, counted from the source)


@pytest.fixture
def tiny(write):
    """stylegan-small at 8 channels, an 8-value latent and w, up to 8×8: 4 style layers."""
    path = write("network: generator\nbase: stylegan-small\nlatent_size: 8\nmax_resolution: 8\n"
                 "width: {multiplier: 0.015625}\n", "tiny/generator.yaml")
    return build_network(load_spec(path)).eval()


def _seen_styles(generator) -> dict[int, torch.Tensor]:
    """Records the style each style layer reads in the next forward pass, by its index."""
    seen = {}
    for layer in generator.style_layers():
        layer.register_forward_pre_hook(lambda module, args: seen.__setitem__(module.style_index, module.style(args[1])))
    return seen


# ------------------------------------------------------------------------------------------ counts


def test_stylegan_counts_equal_the_official_code():
    """Per resolution (its Conv0_up and Conv1, or the 4×4 Const and Conv), per ToRGB, the mapping network and
    the totals, as the official code's trainable variables; 26,219,627 is what its pretrained_example.py prints."""
    official = count_stylegan.generator()
    spec = load_spec("stylegan", "generator")
    assert sum(row.parameters or 0 for row in mapping_rows(spec) if row.depth == 0) == 2_101_248 == sum(
        count for scope, count in official.items() if scope.startswith("G_mapping"))
    for stage in summarize(spec):
        size = f"{stage.resolution}x{stage.resolution}"
        convolutions = sum(count for scope, count in official.items() if f"/{size}/" in scope)
        lod = {2 ** r: f"ToRGB_lod{10 - r}" for r in range(2, 11)}[stage.resolution]
        assert stage.parameters - stage.head_parameters == convolutions, size
        assert stage.head_parameters == official[f"G_synthesis/{lod}"], size
    assert total_parameters(spec) == sum(official.values()) == 26_219_627
    discriminator = load_spec("stylegan", "discriminator")
    assert total_parameters(discriminator) == sum(count_stylegan.discriminator().values()) == 23_087_249
    for role, expected in (("generator", 26_219_627), ("discriminator", 23_087_249)):
        network = build_network(load_spec("stylegan", role))
        assert sum(p.numel() for p in network.parameters()) == expected, role
        assert sum(p.numel() for p in network.parameters() if p.requires_grad) == expected, role


def test_stylegan_reads_eighteen_styles_two_per_resolution():
    spec = load_spec("stylegan", "generator")
    assert style_counts(spec) == ((2, 0),) * 9 and spec.style_size == 512  # (the stage's layers, its to_rgb)
    generator = build_network(spec)
    assert [layer.style_index for layer in generator.style_layers()] == list(range(18))
    assert [generator.plan(depth).styles for depth in (1, 2, 9)] == [2, 4, 18]
    assert torch.equal(generator.stage(0)[0].value, torch.ones(512, 4, 4))  # the constant starts at ones


def test_the_official_schedule_starts_at_8x8_and_shows_25m_images():
    generator, discriminator = load_spec("stylegan", "generator"), load_spec("stylegan", "discriminator")
    training = load_training_config("stylegan")
    plan = RunPlan.build(generator, discriminator, training)
    first = plan.periods[0]
    assert (plan.stages[first.stage].resolution, first.fading, first.images) == (8, False, 600_000)
    assert plan.total_images == 25_000_000
    assert [stage.batch_size for stage in plan.stages][1:] == [256, 128, 64, 32, 32, 32, 32, 32]
    assert (training.style_mixing, training.w_avg_beta, training.ema_kimg) == (0.9, 0.995, 10)


# ------------------------------------------------------------------------------------------ layers


def test_style_modulation_scales_and_shifts_by_a_dense_layer_on_w(tiny):
    layer = tiny.style_layers()[1]
    assert isinstance(layer, StyleModulation)
    torch.manual_seed(0)
    with torch.no_grad():
        for parameter in layer.parameters():
            parameter.normal_()
    x, styles = torch.randn(3, 8, 4, 4), torch.randn(3, tiny.num_styles, 8)
    dense = layer.dense
    style = F.linear(styles[:, 1], dense.weight * dense.weight_scale, dense.bias * dense.bias_scale)
    expected = x * (1 + style[:, :8, None, None]) + style[:, 8:, None, None]
    assert torch.allclose(layer(x, {"style": styles}), expected, atol=1e-6)
    assert dense.weight_scale == pytest.approx(1 / 8 ** 0.5)  # equalized learning rate, gain 1


def test_a_bias_layer_adds_its_bias_at_its_learning_rate_then_activates(write):
    from archgan.layers.modules.conv import build_bias

    layer = build_bias({"activation": {"type": "lrelu", "slope": 0.2}, "lr_multiplier": 0.01}, (3, 2, 2), None)
    assert not layer.bias.any()
    with torch.no_grad():
        layer.bias.copy_(torch.tensor([100.0, -100.0, 0.0]))
    x = torch.randn(2, 3, 2, 2)
    assert torch.allclose(layer(x), F.leaky_relu(x + torch.tensor([1.0, -1.0, 0.0]).view(1, 3, 1, 1), 0.2))


@pytest.mark.parametrize("text, message", [
    ("stages:\n  - {resolution: 4, layers: [{type: constant, channels: 4}, {type: style_modulation}]}",
     "reads the style w, which a generator's mapping network makes; this network has none"),
    ("mapping: [{type: dense, channels: 4}]\nstages:\n  - {resolution: 4, layers: [{type: constant, channels: 4}]}",
     "has a mapping network, but none of its layers reads the style"),
    ("mapping: [{type: dense, channels: 4, reshape: [2, 2]}]\nstages:\n"
     "  - {resolution: 4, layers: [{type: constant, channels: 4}, {type: style_modulation}]}",
     "the mapping network must end in a vector"),
    ("mapping: [{type: dense, channels: 4}, {type: style_modulation}]\nstages:\n"
     "  - {resolution: 4, layers: [{type: constant, channels: 4}, {type: style_modulation}]}",
     "none of its own layers can read it"),
])
def test_style_mistakes_in_specs_are_told(text, message, write):
    with pytest.raises(SpecError, match=message):
        load_spec(write(f"network: generator\nlatent_size: 4\n{text}\n", "g.yaml"))


def test_style_mixing_needs_a_mapping_network():
    training = load_training_config(None, {"style_mixing": 0.5})
    with pytest.raises(SpecError, match="style mixing mixes the styles of a mapping network"):
        check_fit(load_spec("pggan-small", "generator"), load_spec("pggan-small", "discriminator"), training)


# ------------------------------------------------------------------------------ truncation, mixing


def test_truncation_to_zero_gives_the_image_of_the_average_w_for_every_z(tiny):
    """Noise strengths start at 0, so an image depends on the styles only."""
    with torch.no_grad():
        tiny.w_avg.normal_()
        average = tiny(torch.randn(1, 8), truncation=Truncation(0.0))
        images = tiny(torch.randn(5, 8), truncation=Truncation(0.0))
        untruncated = tiny(torch.randn(5, 8))
    assert torch.allclose(images, average.expand_as(images), atol=1e-6)
    assert not torch.allclose(untruncated, average.expand_as(untruncated), atol=1e-3)


def test_truncation_pulls_the_first_layers_toward_the_average(tiny):
    z = torch.randn(2, 8)
    seen = _seen_styles(tiny)
    with torch.no_grad():
        tiny.w_avg.normal_()
        w = tiny.mapping(z)
        tiny(z, truncation=Truncation(0.5, cutoff=2))
    for index in range(tiny.num_styles):
        expected = tiny.w_avg + 0.5 * (w - tiny.w_avg) if index < 2 else w
        assert torch.allclose(seen[index], expected, atol=1e-6), index


def test_mixing_changes_only_the_layers_from_the_crossover_on(tiny):
    first, second = torch.randn(3, 8), torch.randn(3, 8)
    seen = _seen_styles(tiny)
    with torch.no_grad():
        w1, w2 = tiny.mapping(first), tiny.mapping(second)
        plain = tiny(first)
        mixed = tiny(first, mixing=StyleMixing(second, torch.tensor(3)))
        assert [torch.equal(seen[i], w1 if i < 3 else w2) for i in range(4)] == [True] * 4
        assert not torch.allclose(plain, mixed)
        assert torch.equal(tiny(first, mixing=StyleMixing(second, torch.tensor(4))), plain)  # past the last layer


def test_truncation_and_mixing_need_a_mapping_network():
    generator = build_network(load_spec("pggan-small", "generator"))
    with pytest.raises(ValueError, match="need a mapping network"):
        generator(torch.randn(1, 128), truncation=Truncation(0.5))


def test_the_step_draws_the_crossover_among_the_styles_it_runs(tiny):
    """StyleGAN: with probability p a cutoff 1 ≤ c < the active layers' count, else no mixing (c = count)."""
    noise = torch.Generator().manual_seed(0)
    state = SimpleNamespace(generator=tiny, noise=noise, device=torch.device("cpu"))
    cutoffs = []
    for depth, alpha in ((1, 1.0), (2, 0.5), (2, 1.0)):
        context = StepContext(state=state, position=SimpleNamespace(depth=depth, alpha=alpha), stage=SimpleNamespace(batch_size=4),
                              loss=None, loss_context=None, generator=tiny, discriminator=None, style_mixing_probability=0.9)
        draws = [context.style_mixing() for _ in range(400)]
        cutoffs.append(torch.stack([draw.cutoff for draw in draws]))
        assert all(draw.latents.shape == (4, 8) for draw in draws)
    assert set(cutoffs[0].tolist()) == {1, 2} and set(cutoffs[2].tolist()) == {1, 2, 3, 4}
    mixed = (cutoffs[2] < 4).float().mean().item()
    assert 0.85 < mixed < 0.95


def test_the_average_w_follows_the_generator_steps_latents(tiny):
    z = torch.randn(6, 8)
    context = SimpleNamespace(state=SimpleNamespace(generator=tiny), generator_latents=z, loss_context=None, rows=None,
                              stage=SimpleNamespace(batch_size=6), inputs=lambda micro: {},
                              summed_over_processes=lambda values: values)
    with torch.no_grad():
        mean = tiny.mapping(z).mean(0)
    w_avg_step(0.995)(context)
    assert torch.allclose(tiny.w_avg, 0.005 * mean, atol=1e-7)
    w_avg_step(0.995)(context)
    assert torch.allclose(tiny.w_avg, (0.005 * 0.995 + 0.005) * mean, atol=1e-7)


# ------------------------------------------------------------------------------------------ training


@pytest.fixture
def styled(write) -> list[str]:
    """stylegan-small at 16 channels up to 16×16, with style mixing on every step (probability 1) and the
    path length penalty every second step."""
    extra = "max_resolution: 16\nwidth: {multiplier: 0.03125}\n"
    generator = write(f"network: generator\nbase: stylegan-small\nlatent_size: 16\n{extra}", "s/generator.yaml")
    discriminator = write(f"network: discriminator\nbase: stylegan-small\n{extra}", "s/discriminator.yaml")
    training = write("loss: {type: logistic, r1_gamma: 1, r1_interval: 2}\nbatch_size: 8\nfade_kimg: 0.016\n"
                     "stable_kimg: 0.016\nlog_every: 1\nstyle_mixing: 1\nema_kimg: 0.1\npath_length: {interval: 2}\n",
                     "s/training.yaml")
    return ["--generator_config", str(generator), "--discriminator_config", str(discriminator),
            "--training_config", str(training)]



def test_a_style_run_keeps_the_average_w_resumes_exactly_and_samples_truncated(styled, image_folder, tmp_path):
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    assert train_run(styled, image_folder, whole, "--max_images", "96") == 0
    assert train_run(styled, image_folder, parts, "--max_images", "40") == 0
    assert main(["train", "--resume", str(parts), "--max_images", "96"]) == 0
    last = list_checkpoints(whole / "checkpoints")[-1]
    for name in ("generator.safetensors", "generator_ema.safetensors", "discriminator.safetensors"):
        a, b = load_file(last / name), load_file(list_checkpoints(parts / "checkpoints")[-1] / name)
        assert all(torch.equal(a[key], b[key]) for key in a), name
    generator, averaged = load_file(last / "generator.safetensors"), load_file(last / "generator_ema.safetensors")
    assert generator["w_avg"].abs().sum() > 0 and torch.equal(generator["w_avg"], averaged["w_avg"])
    records = [json.loads(line) for line in (whole / "logs" / "metrics.jsonl").read_text().splitlines()]
    assert records and all(torch.isfinite(torch.tensor([r["loss/D"], r["loss/G"]])).all() for r in records)
    lengths = [r["loss/G_pl_length"] for r in records if "loss/G_pl_length" in r]
    assert len(lengths) == len(records) // 2 and lengths[-1] > 0  # its running mean, every second step
    out = tmp_path / "generated"
    assert main(["generate", "--checkpoint", str(whole), "--out", str(out), "--num", "4", "--truncation", "0.7",
                 "--truncation_cutoff", "2"]) == 0
    assert len(list(out.glob("*.png"))) == 4
    assert main(["generate", "--checkpoint", str(whole), "--out", str(out), "--truncation_cutoff", "9"]) == 1


def test_two_processes_train_with_style_mixing_as_one(styled, image_folder, tmp_path):
    # without the path length penalty: its double backward turns the processes' other order of sums into
    # differences of 1e-5 after two steps, beyond what the comparison allows there (its batch is drawn and
    # shared as the step's: StepContext.sub_batch)
    one, two = assert_two_processes_train_as_one([*styled, "--set", "path_length=null"], image_folder, tmp_path)
    a = load_file(list_checkpoints(one / "checkpoints")[-1] / "generator.safetensors")["w_avg"]
    b = load_file(list_checkpoints(two / "checkpoints")[-1] / "generator.safetensors")["w_avg"]
    assert torch.allclose(a, b, rtol=1e-3, atol=1e-5)


def test_a_style_generator_exports_to_onnx_with_its_mapping_and_truncation(tiny, tmp_path):
    onnxruntime = pytest.importorskip("onnxruntime")
    from archgan.networks.export import export_generator

    path = export_generator(tiny, tmp_path / "g.onnx", "onnx", depth=2)
    z = torch.randn(3, 8)
    with torch.no_grad():
        expected = tiny(z, 2).numpy()
    images = onnxruntime.InferenceSession(str(path)).run(None, {"z": z.numpy()})[0]
    assert images.shape == (3, 3, 8, 8) and abs(images - expected).max() < 1e-4
    with torch.no_grad():
        tiny.w_avg.normal_()
        average = tiny(z, 2, truncation=Truncation(0.0)).numpy()
    path = export_generator(tiny, tmp_path / "average.onnx", "onnx", depth=2, truncation=Truncation(0.0))
    images = onnxruntime.InferenceSession(str(path)).run(None, {"z": z.numpy()})[0]
    assert abs(images - average).max() < 1e-4 and abs(images - images[:1]).max() < 1e-5
