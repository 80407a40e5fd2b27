"""APGAN and FAGAN as spec files: parameter counts, the attention placement, the attn_gan_pytorch
config format, and short training runs through train.py."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from archgan.cli import main
from archgan.networks import build_network
from archgan.spec.summary import summarize
from archgan.spec import SpecError, load_spec
from archgan.training.files import list_checkpoints


# APGAN: counted from the seed repository's code (Ryu0w0/APGAN) at 256×256, every head included.
# FAGAN: attn_gan_pytorch's parameters() minus its spectral-norm u/v vectors (parameters there, buffers
# here) and, in D, the batch norm it builds but never uses in the first full_attention (64 + 64).
COUNTS = {
    ("apgan", "generator"): 10_263_038,
    ("apgan", "discriminator"): 16_006_642,
    ("fagan", "generator"): 8_110_039 - 16_384,
    ("fagan", "discriminator"): 3_777_659 - (64 + 48 + 128 + 1024 + 256 + 2048 + 512 + 4096) - 128,
    ("fagan-progressive", "generator"): 3_281_091,
    ("fagan-progressive", "discriminator"): 3_650_820,
}


@pytest.mark.parametrize("name,role", sorted(COUNTS))
def test_parameter_totals(name, role):
    assert sum(p.numel() for p in build_network(load_spec(name, role)).parameters()) == COUNTS[name, role]


def test_apgan_has_its_attention_block_at_128_in_both_networks(capsys):
    assert main(["show", "apgan"]) == 0
    out = capsys.readouterr().out
    generator, discriminator = out.split("discriminator 'apgan'")
    assert generator.count("self_attention") == 1 and discriminator.count("self_attention") == 1
    for text, shape in ((generator, "32×128×128"), (discriminator, "64×64×64")):
        stage = text[text.index("stage 128×128"):].split("stage total")[0]
        assert "self_attention" in stage and shape in stage
    for role in ("generator", "discriminator"):
        stages = summarize(load_spec("apgan", role))
        assert [s.resolution for s in stages if any(r.layer == "self_attention" for r in s.rows)] == [128]


def test_native_fagan_files_reproduce_the_conf_files_layer_for_layer(fagan_confs):
    for role, conf in (("generator", "gen.conf"), ("discriminator", "dis.conf")):
        native, converted = load_spec("fagan", role), load_spec(fagan_confs / conf, role)
        assert native.stages == converted.stages
        assert (native.latent_size, native.image_channels) == (converted.latent_size, converted.image_channels)


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_convert_writes_a_native_file(suffix, fagan_confs, tmp_path, capsys):
    for conf, role in (("gen.conf", "generator"), ("dis.conf", "discriminator")):
        out = tmp_path / f"{role}{suffix}"
        assert main(["convert", str(fagan_confs / conf), "-o", str(out)]) == 0
        assert load_spec(out).stages == load_spec(fagan_confs / conf).stages
    assert "wrote" in capsys.readouterr().out


def test_conf_files_are_shown_and_validated_directly(fagan_confs, capsys):
    assert main(["show", str(fagan_confs / "gen.conf")]) == 0
    out = capsys.readouterr().out
    assert "latent 128, 3 image channels, one stage: 64×64" in out and "full_attention 4×4 ×2" in out
    assert main(["validate", str(fagan_confs / "dis.conf")]) == 0


@pytest.mark.parametrize(
    "entry,message",
    [
        ("{name: convv, channels: '(128, 64)'}", "unknown attn_gan_pytorch layer"),
        ("{name: conv, channels: '128, 64', kernel_dims: '(3, 3)'}", "`channels` must be a pair written as \"(a, b)\""),
        ("{name: conv, channels: '(99, 64)', kernel_dims: '(3, 3)', stride: '(1, 1)', padding: '(1, 1)', bias: true, "
         "batch_norm: false, activation: relu}", "this layer takes 99 channels but the layer before gives 128"),
        ("{name: conv, channels: '(128, 64)', kernel_dims: '(3, 5)', stride: '(1, 1)', padding: '(1, 1)', bias: true, "
         "batch_norm: false, activation: relu}", "archgan supports square kernel_dims only"),
        ("{name: conv, channels: '(128, 64)', kernel_dims: '(3, 3)', stride: '(1, 1)', padding: '(1, 1)', bias: true, "
         "batch_norm: false, activation: swish}", "unknown activation"),
    ],
)
def test_conf_errors_name_the_entry(entry, message, write):
    head = ("architecture:\n  - {name: conv_transpose, channels: '(16, 128)', kernel_dims: '(4, 4)', stride: '(1, 1)', "
            "padding: '(0, 0)', bias: true, batch_norm: true, activation: relu}\n")
    path = write(head + f"  - {entry}\n", "gen.conf")
    with pytest.raises(SpecError) as caught:
        load_spec(path, "generator")
    assert message in str(caught.value) and f"{path}:3" in str(caught.value)
    if "convv" in entry:
        assert "did you mean 'conv'?" in str(caught.value)


# ---------------------------------------------------------------------------------- training runs


def _train(run_dir: Path, images: Path, *flags: str) -> None:
    arguments = ["train", "--images_dir", str(images), "--run_dir", str(run_dir), "--feedback_factor", "1",
                 "--checkpoint_factor", "10", *flags]
    assert main(arguments) == 0
    assert list_checkpoints(run_dir / "checkpoints")


@pytest.fixture
def apgan_tiny(write):
    """APGAN's own templates and defaults (through `base`) on three narrow stages, attention at 16×16."""
    generator = write("""
        network: generator
        base: apgan
        name: apgan-tiny
        stages:
          - resolution: 4
            layers: [{type: conv_transpose, channels: 32, kernel: 4}, {type: lrelu}, {use: conv_norm, channels: 32}]
          - {resolution: 8, layers: [{use: grow, channels: 32}]}
          - {resolution: 16, layers: [{use: grow, channels: 16}, {use: attention}]}
        """, "apgan-tiny/generator.yaml")
    discriminator = write("""
        network: discriminator
        base: apgan
        name: apgan-tiny
        stages:
          - resolution: 16
            from_rgb: [{type: from_rgb, channels: 16}]
            layers: [{type: conv, channels: 32}, {type: conv, channels: 32}, {type: downsample}, {use: attention}]
          - {resolution: 8, layers: [{type: conv, channels: 32}, {type: conv, channels: 32}, {type: downsample}]}
          - resolution: 4
            layers: [{type: minibatch_stddev, group_size: 256}, {type: conv, channels: 32},
                     {type: conv, channels: 32, kernel: 4, padding: 0}, {type: dense, channels: 1}]
        """, "apgan-tiny/discriminator.yaml")
    return ["--generator_config", str(generator), "--discriminator_config", str(discriminator)]


def test_apgan_trains_through_its_training_file(apgan_tiny, image_folder, tmp_path):
    """With bf16 autocast on any CPU: its attention's float32 path fades against a bf16 one."""
    _train(tmp_path / "run", image_folder, *apgan_tiny, "--training_config", "apgan", "--kimg", "0.032",
           "--batch_size", "8", "--amp")


def test_fagan_trains_from_the_packages_own_weights(image_folder, fagan_confs, tmp_path):
    pytest.importorskip("attn_gan_pytorch", reason="attn-gan-pytorch could not be installed from PyPI")
    pytest.importorskip("easydict", reason="easydict (needed by attn_gan_pytorch) could not be installed")
    import yaml
    from attn_gan_pytorch import ConfigManagement, Networks, Utils

    original = yaml.load
    yaml.load = lambda stream, Loader=yaml.SafeLoader, **kw: original(stream, Loader=Loader, **kw)
    try:
        for conf, name, make in (("gen.conf", "GAN_GEN_3.pth", lambda l: Networks.Generator(l, 128)),
                                 ("dis.conf", "GAN_DIS_3.pth", Networks.Discriminator)):
            layers = list(map(Utils.get_layer, ConfigManagement.get_config(str(fagan_confs / conf)).architecture))
            torch.save(make(layers).state_dict(), tmp_path / name)
            shutil.copy(fagan_confs / conf, tmp_path / conf)
    finally:
        yaml.load = original
    _train(tmp_path / "run", image_folder, "--generator_config", str(tmp_path / "gen.conf"),
           "--discriminator_config", str(tmp_path / "dis.conf"), "--generator_file", str(tmp_path / "GAN_GEN_3.pth"),
           "--discriminator_file", str(tmp_path / "GAN_DIS_3.pth"), "--training_config", "fagan",
           "--max_images", "16", "--batch_size", "4")


def test_fagan_and_fagan_progressive_train(image_folder, tmp_path):
    _train(tmp_path / "fagan", image_folder, "--arch", "fagan", "--max_images", "12", "--batch_size", "4")
    _train(tmp_path / "progressive", image_folder, "--arch", "fagan-progressive", "--kimg", "0.008",
           "--batch_size", "4")
    samples = {p.name.split("-")[0] for p in (tmp_path / "progressive" / "samples").glob("*.png")}
    assert samples == {"4x4", "8x8", "16x16", "32x32", "64x64"}


def test_pro_gan_pytorch_totals_at_depth_10():
    """The counts pro-gan-pth 3.4's Generator(depth=10) and Discriminator(depth=10) report."""
    assert sum(p.numel() for p in build_network(load_spec("pro_gan_pytorch", "generator")).parameters()) == 27_793_275
    assert sum(p.numel() for p in build_network(load_spec("pro_gan_pytorch", "discriminator")).parameters()) == 27_801_889
