"""The built-ins written with blocks, templates with params and width scales: parameter counts equal to
the reference implementations' own code (counted by running it on the CPU: pytorch/examples dcgan/main.py
at 77f55b91, kwotsin/mimicry sngan_32.py at a7fda06c, NVlabs/stylegan2-ada-pytorch DiscriminatorBlock at
d72cc7d0), sngan-resnet's outputs equal to mimicry's for the same weights, and each trains on the bundled
emoji at a small width."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from archgan.cli import main
from archgan.networks import build_network
from archgan.networks.weights import load_weights
from archgan.resources import architectures_dir
from archgan.spec import load_spec, load_spec_text
from archgan.spec.summary import summarize

DATA = Path(__file__).parent / "data"
EMOJI = Path(__file__).resolve().parent.parent / "archgan" / "data" / "emoji" / "images"

REFERENCE_COUNTS = {  # (generator, discriminator), as the reference code counts its trainable parameters
    "dcgan": (3_576_704, 2_765_568),
    "sngan-resnet": (4_276_739, 1_053_825),
}


def _count(network: torch.nn.Module) -> int:
    return sum(p.numel() for p in network.parameters() if p.requires_grad)


@pytest.mark.parametrize("name", sorted(REFERENCE_COUNTS))
def test_counts_equal_the_reference_code(name):
    for role, expected in zip(("generator", "discriminator"), REFERENCE_COUNTS[name]):
        spec = load_spec(name, role)
        assert sum(stage.parameters for stage in summarize(spec)) == expected, (name, role)
        assert _count(build_network(spec)) == expected, (name, role)


def test_dcgan_starts_as_its_weights_init():
    """pytorch/examples' weights_init: every convolution's weight from N(0, 0.02), batch-norm scales from
    N(1, 0.02) and their shifts at 0."""
    for role in ("generator", "discriminator"):
        network = build_network(load_spec("dcgan", role))
        weights = torch.cat([p.flatten() for n, p in network.named_parameters() if p.ndim == 4])
        scales = torch.cat([m.weight for m in network.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)])
        shifts = torch.cat([m.bias for m in network.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)])
        assert abs(weights.mean()) < 1e-3 and 0.019 < weights.std() < 0.021, role
        assert abs(scales.mean() - 1) < 0.01 and 0.015 < scales.std() < 0.025 and not shifts.any(), role


def _top_rows(spec) -> dict[str, int]:
    """The parameters of each named entry of the stages and heads, blocks' paths included."""
    return {row.layer.split(":")[0]: row.parameters for stage in summarize(spec) for row in stage.rows
            if row.depth == 0 and ":" in row.layer}


def test_sngan_blocks_count_as_mimicrys():
    """mimicry's per-module counts: l1, block2-4 (GBlock), b5, c5; block1 (DBlockOptimized), block2-4, l5."""
    generator = _top_rows(load_spec("sngan-resnet", "generator"))
    assert generator == {"l1": 528_384, "block2": 1_246_976, "block3": 1_246_976, "block4": 1_246_976,
                         "b5": 512, "c5": 6_915}
    discriminator = _top_rows(load_spec("sngan-resnet", "discriminator"))
    assert discriminator == {"block1": 151_680, "block2": 311_680, "block3": 295_168, "block4": 295_168, "l5": 129}


@pytest.mark.parametrize("widths, expected", [((64, 128), 118_976), ((128, 128), 311_552)])
def test_pggan_resnet_blocks_hold_stylegan2s_parameters(widths, expected, write):
    """pggan-resnet's dblock against StyleGAN2-ada's DiscriminatorBlock(architecture='resnet') of the same
    widths: conv0 + conv1 + the bias-free skip, as that code counts them."""
    path = write(f"""
network: discriminator
base: pggan-resnet
stages:
  - resolution: 32
    from_rgb: [{{type: from_rgb, channels: {widths[0]}}}]
    layers: [{{use: dblock, in: {widths[0]}, out: {widths[1]}}}, {{type: global_pool}}, {{type: dense, channels: 1}}]
""", "d.yaml")
    spec = load_spec(path)
    assert _top_rows(spec)["res"] == expected
    assert _count(build_network(spec).stages["32x32"].res) == expected


def test_pggan_resnet_grows_with_fade_in_like_pggan():
    generator, discriminator = (build_network(load_spec("pggan-resnet", role)) for role in ("generator", "discriminator"))
    assert _count(generator) == 23_079_115  # pggan's generator
    assert _count(discriminator) == 24_048_273
    images = torch.randn(4, 3, 8, 8)
    faded = discriminator(images, depth=2, alpha=0.0)
    old = discriminator(torch.nn.functional.avg_pool2d(images, 2), depth=1)
    assert torch.allclose(faded, old, atol=1e-5)  # alpha 0: the new stage does not count yet


# ------------------------------------------------------------------- sngan-resnet against mimicry's code


def _small_sngan(write) -> tuple:
    """sngan-resnet at mimicry's ngf = ndf = 8 through `width:` (256 → 8, 128 → 8)."""
    generator = write("network: generator\nbase: sngan-resnet\nwidth: {multiplier: 0.03125}\n", "g.yaml")
    discriminator = write("network: discriminator\nbase: sngan-resnet\nwidth: {multiplier: 0.0625}\n", "d.yaml")
    return load_spec(generator), load_spec(discriminator)


def _ours(key: str, role: str) -> str:
    """mimicry's key (block2.c1.weight, block1.c1.weight_orig) under our name."""
    key = re.sub(r"\.weight_orig$", ".parametrizations.weight.original", key)
    key = re.sub(r"\.weight_([uv])$", r".parametrizations.weight.0._\1", key)
    key = re.sub(r"^(block\d)\.(c_sc)\.", r"\1.shortcut.\2.", key)
    key = re.sub(r"^(block\d)\.(c1|c2|b1|b2)\.", r"\1.main.\2.", key)
    return (f"to_rgb.32x32.{key}" if key.startswith(("b5.", "c5.")) else f"stages.32x32.{key}")


def test_sngan_resnet_computes_what_mimicry_computes(write):
    """mimicry's networks at width 8 (scripts/make_mimicry_reference.py): with their weights, our generator
    gives their images in eval and training mode, and our discriminator their scores."""
    reference = load_file(DATA / "mimicry_sngan32_w8.safetensors")
    specs = _small_sngan(write)
    for role, spec in zip(("G", "D"), specs):
        network = build_network(spec)
        state = {_ours(k[2:], role): v for k, v in reference.items() if k.startswith(f"{role}.")}
        load_weights(network, state, "mimicry")  # strict: every tensor has its counterpart
        if role == "G":
            network.eval()
            assert torch.allclose(network(reference["z"]), reference["G_eval"], atol=1e-5)
            network.train()
            assert torch.allclose(network(reference["z"]), reference["G_train"], atol=1e-5)
        else:
            network.eval()  # spectral norm reads the u and v mimicry's one power iteration left
            assert torch.allclose(network(reference["x"]), reference["D_eval"].reshape(-1), atol=1e-4)


def test_width_scales_every_channel_but_the_image_and_the_score(write):
    generator, discriminator = _small_sngan(write)
    layers = generator.stages[0].layers
    assert layers[0].options["channels"] == 128 and layers[1].options["shape"] == [8, 4, 4]
    assert generator.stages[0].rgb[-1].type == "to_rgb"
    assert discriminator.stages[0].layers[-1].options["channels"] == 1  # the score
    dcgan = load_spec_text("network: generator\nbase: dcgan\nwidth: {multiplier: 0.125}\n", "yaml",
                           file=str(architectures_dir() / "dcgan" / "x.yaml"))
    channels = [layer.options["channels"] for layer in dcgan.stages[0].layers if "channels" in layer.options]
    assert channels == [64, 32, 16, 8, 3]  # 512 … 64 scaled by 1/8; the image's 3 channels stay


# --------------------------------------------------------------------- each trains on the bundled emoji

SMALL = {  # the built-in at a width a CPU trains in seconds, and the settings its training file gives per stage
    "dcgan": ("width: {multiplier: 0.125}", "width: {multiplier: 0.125}", []),
    "sngan-resnet": ("width: {multiplier: 0.0625}", "width: {multiplier: 0.125}", []),
    "pggan-resnet": ("width: {multiplier: 0.0625}\nmax_resolution: 16", "width: {multiplier: 0.0625}\nmax_resolution: 16",
                     ["--set", "g_lr=0.001", "--set", "d_lr=0.001"]),
    "stylegan2-small": ("width: {multiplier: 0.0625}", "width: {multiplier: 0.0625}",  # whole from the start
                        ["--set", "fade_kimg=0", "--set", "stable_kimg=[0, 0, 0, 0.032]"]),
}


@pytest.mark.parametrize("name", sorted(SMALL))
def test_each_trains_on_the_bundled_emoji(name, write, tmp_path):
    images = tmp_path / "emoji"
    images.mkdir()
    for path in sorted(EMOJI.glob("*.png"))[:64]:
        shutil.copy(path, images / path.name)
    g_extra, d_extra, settings = SMALL[name]
    generator = write(f"network: generator\nbase: {name}\n{g_extra}\n", f"{name}/generator.yaml")
    discriminator = write(f"network: discriminator\nbase: {name}\n{d_extra}\n", f"{name}/discriminator.yaml")
    training = architectures_dir() / name / "training.yaml"
    run = tmp_path / "run"
    assert main(["train", "--images_dir", str(images), "--run_dir", str(run), "--generator_config", str(generator),
                 "--discriminator_config", str(discriminator), "--training_config", str(training),
                 "--set", "batch_size=8", "--set", "fade_kimg=0.016", "--set", "stable_kimg=0.016",
                 *settings, "--feedback_factor", "1", "--checkpoint_factor", "1"]) == 0
    records = [json.loads(line) for line in (run / "logs" / "metrics.jsonl").read_text().splitlines()]
    assert records and all(torch.isfinite(torch.tensor(r["loss/D"])) for r in records)
    assert (run / "checkpoints").is_dir()
