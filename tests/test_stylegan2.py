"""StyleGAN2 as spec files: the stylegan2 and stylegan2-256 built-ins against stylegan2-ada-pytorch's own
counts (run on the CPU at d72cc7d0: its `--cfg=stylegan2` at 1024² and `--cfg=paper256`), its styles as its
num_ws numbers them, its weights loaded through the key map giving its own images (tests/data, made by
scripts/make_stylegan2_reference.py from that code), the path length penalty against its definition, and
its schedule."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from archgan.errors import WeightsError
from archgan.interop.pretrained import load_pretrained
from archgan.losses import normalize_path_length
from archgan.losses.objectives import LossContext, PathLength
from archgan.networks import build_network
from archgan.networks.styles import Truncation
from archgan.spec import load_spec
from archgan.spec.summary import mapping_rows, summarize, total_parameters
from archgan.training.config import load_training_config
from archgan.training.phases import build_phases, lazy_intervals
from archgan.training.plan import RunPlan
from archgan.losses import build_loss

REFERENCE = Path(__file__).parent / "data" / "stylegan2_ada_w32.safetensors"

COUNTS = {  # (G, its mapping, D), as stylegan2-ada-pytorch counts its parameters
    "stylegan2": (30_370_060, 2_101_248, 29_012_513),
    "stylegan2-256": (24_767_458, 2_101_248, 24_001_089),
}


@pytest.mark.parametrize("name", sorted(COUNTS))
def test_counts_equal_stylegan2_ada_pytorchs(name):
    generator, discriminator = load_spec(name, "generator"), load_spec(name, "discriminator")
    total, mapping, d_total = COUNTS[name]
    assert total_parameters(generator) == total and total_parameters(discriminator) == d_total
    assert sum(row.parameters or 0 for row in mapping_rows(generator) if row.depth == 0) == mapping
    assert sum(p.numel() for p in build_network(generator).parameters()) == total


def test_stylegan2_blocks_count_as_its_blocks():
    """Per block of the 1024² networks (a synthesis block with its ToRGB; a discriminator block with its
    from_rgb where it has one; the epilogue), as that code counts them."""
    g_blocks = {s.resolution: s.parameters for s in summarize(load_spec("stylegan2", "generator"))}
    assert g_blocks == {4: 2_894_852, 8: 5_509_125, 16: 5_509_125, 32: 5_509_125, 64: 5_509_125, 128: 2_296_069,
                        256: 705_669, 512: 242_245, 1024: 93_477}
    d_blocks = {s.resolution: s.parameters for s in summarize(load_spec("stylegan2", "discriminator"))}
    assert d_blocks == {1024: 29_920, 512: 118_976, 256: 475_520, 128: 1_901_312, 64: 4_981_760, 32: 4_981_760,
                        16: 4_981_760, 8: 4_981_760, 4: 6_559_745}


def test_each_to_rgb_reads_the_style_of_the_next_stages_first_convolution():
    """stylegan2-ada-pytorch's w indices: b4 conv1 0 and torgb 1; block k ≥ 1 conv0 2k−1, conv1 2k, torgb 2k+1."""
    generator = build_network(load_spec("stylegan2-small", "generator"))
    indices = {f"{index}.{name}": module.style_index for index in range(4)
               for part in (generator.stage(index), generator.head(index))
               for name, module in part.named_children() if hasattr(module, "style_index")}
    assert indices == {"0.conv1": 0, "0.torgb": 1, "1.conv0": 1, "1.conv1": 2, "1.torgb": 3, "2.conv0": 3,
                       "2.conv1": 4, "2.torgb": 5, "3.conv0": 5, "3.conv1": 6, "3.torgb": 7}
    assert generator.num_styles == 8 and [generator.plan(depth).styles for depth in (1, 2, 4)] == [2, 4, 8]
    assert build_network(load_spec("stylegan2", "generator")).num_styles == 18


def _reference_networks(write, folder: Path):
    """stylegan2-small at the reference's width (32) and latent (32), its noise the saved maps (their
    noise_mode 'const'), with the reference's weights loaded from plain state dicts."""
    data = load_file(REFERENCE)
    extra = "width: {multiplier: 0.0625}\n"
    generator = build_network(load_spec(write(f"network: generator\nbase: stylegan2-small\nlatent_size: 32\n{extra}"
                                              "defaults: {noise: {mode: fixed}}\n", "g.yaml"))).eval()
    discriminator = build_network(load_spec(write(f"network: discriminator\nbase: stylegan2-small\n{extra}",
                                                  "d.yaml"))).eval()
    for network, prefix in ((generator, "G."), (discriminator, "D.")):
        path = folder / f"{prefix}pt"
        torch.save({key[2:]: value for key, value in data.items() if key.startswith(prefix)}, path)
        report = load_pretrained(network, path)
        assert not report.left
    return data, generator, discriminator


def test_stylegan2_ada_pytorch_weights_give_its_images(write, tmp_path):
    data, generator, discriminator = _reference_networks(write, tmp_path)
    assert sum(p.numel() for p in generator.parameters()) == 85_715  # as their code counts this generator
    with torch.no_grad():
        assert (generator(data["z"]) - data["images"]).abs().max() < 1e-4
        assert (generator(data["z"], truncation=Truncation(0.5)) - data["truncated"]).abs().max() < 1e-4
        assert (discriminator(data["images"]) - data["scores"]).abs().max() < 1e-4


def test_their_keys_that_we_do_not_map_are_listed_and_a_discriminator_is_not_a_generator(write, tmp_path):
    data, generator, discriminator = _reference_networks(write, tmp_path)
    state = {key[2:]: value for key, value in data.items() if key.startswith("G.")}
    torch.save({**state, "mapping.embed.weight": torch.zeros(32, 10)}, tmp_path / "conditional.pt")
    with pytest.raises(WeightsError, match="mapping.embed.weight"):
        load_pretrained(generator, tmp_path / "conditional.pt")
    torch.save({key[2:]: value for key, value in data.items() if key.startswith("D.")}, tmp_path / "d.pt")
    with pytest.raises(WeightsError, match="holds a discriminator, not a generator"):
        load_pretrained(generator, tmp_path / "d.pt")
    random_noise = build_network(load_spec(write("network: generator\nbase: stylegan2-small\nlatent_size: 32\n"
                                                 "width: {multiplier: 0.0625}\n", "g2.yaml")))
    assert not load_pretrained(random_noise, tmp_path / "conditional.pt", strict=False).missing  # noise_const skipped


def test_the_path_length_penalty_is_its_definition(write):
    """a = sqrt(mean over styles of Σ_w (∂(G(w)·y)/∂w)²) for y ~ N(0, 1)/√(HW); ā ← lerp(ā, mean a, decay);
    weight·mean (a − ā)²."""
    generator = build_network(load_spec(write("network: generator\nbase: stylegan2-small\nlatent_size: 16\n"
                                              "width: {multiplier: 0.03125}\nmax_resolution: 8\n", "g.yaml")))
    penalty = PathLength(normalize_path_length({"decay": 0.1}), torch.device("cpu"))
    penalty.mean = torch.tensor(0.5)
    z = torch.randn(4, 16)
    styles = generator.styles(z, {})
    image = generator(z, styles=styles)
    terms = penalty.penalty(image, styles, LossContext(8, 8, torch.Generator().manual_seed(3)))
    noise = torch.randn(image.shape, generator=torch.Generator().manual_seed(3)) / math.sqrt(64)
    (gradient,) = torch.autograd.grad((image * noise).sum(), styles, retain_graph=True)
    lengths = gradient.square().sum(2).mean(1).sqrt()
    mean = 0.5 + 0.1 * (lengths.mean() - 0.5)
    assert torch.allclose(penalty.mean, mean) and torch.allclose(terms["length"], mean)
    assert torch.allclose(terms["loss"], 2 * ((lengths - mean) ** 2).mean(), rtol=1e-5)
    terms["loss"].backward()
    assert all(p.grad is not None for p in generator.parameters())  # every parameter, for DDP (× 0 where unreached)


def test_the_schedule_trains_the_whole_network_from_the_start_with_lazy_regularizers():
    generator, discriminator = load_spec("stylegan2", "generator"), load_spec("stylegan2", "discriminator")
    training = load_training_config("stylegan2")
    plan = RunPlan.build(generator, discriminator, training)
    assert [(p.stage, p.fading, p.images) for p in plan.periods] == [(8, False, 25_000_000)]
    path_length = PathLength(training.path_length, torch.device("cpu"))
    loss = build_loss(training.loss)
    phases = build_phases(training, loss, style_based=True, path_length=path_length)
    assert [(phase.name, phase.interval) for phase in phases] == [("D", 1), ("D_r1", 16), ("G", 1), ("G_pl", 4),
                                                                   ("w_avg", 1), ("ema", 1)]
    assert lazy_intervals(loss, path_length) == {"discriminator": 16, "generator": 4}
