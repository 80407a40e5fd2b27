"""Using trained models: loading by config, clear mismatch errors, generating, pro_gan_pytorch
checkpoints, and export to ONNX / TorchScript."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from archgan import WeightsError, load_discriminator, load_generator, load_run
from archgan.cli import main
from archgan.networks import build_network
from archgan.networks.weights import save_weights
from archgan.spec import load_spec
from archgan.training.files import list_checkpoints


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """pggan-small trained briefly through its whole schedule (4 stages of 32 images) on a tiny folder."""
    from conftest import make_images

    root = tmp_path_factory.mktemp("trained")
    images = make_images(root / "images")
    run_dir = root / "run"
    arguments = ["train", "--images_dir", str(images), "--run_dir", str(run_dir), "--kimg", "0.032",
                 "--batch_size", "8", "--cache_dir", str(root / "cache")]
    assert main(arguments) == 0
    return run_dir


def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def test_generate_from_the_run_folder_equals_config_plus_weights(trained, tmp_path):
    checkpoint = list_checkpoints(trained / "checkpoints")[-1]
    assert main(["generate", "--checkpoint", str(trained), "--out", str(tmp_path / "a"), "--grid", "--num", "9",
                 "--seed", "3"]) == 0
    assert main(["generate", "--generator_config", "pggan-small", "--generator_file",
                 str(checkpoint / "generator_ema.safetensors"), "--out", str(tmp_path / "b"), "--grid", "--num", "9",
                 "--seed", "3"]) == 0
    first, second = _pixels(tmp_path / "a" / "grid.png"), _pixels(tmp_path / "b" / "grid.png")
    # 3 columns of 32×32 images, each enlarged 3× (nearest) so that the grid is at least 256 pixels wide
    assert first.shape == (3 * 98 + 2, 3 * 98 + 2, 3) and np.array_equal(first, second)
    assert main(["generate", "--checkpoint", str(trained), "--out", str(tmp_path / "c"), "--num", "5",
                 "--resolution", "16", "--no-ema"]) == 0
    files = sorted((tmp_path / "c").glob("*.png"))
    assert len(files) == 5 and _pixels(files[0]).shape == (16, 16, 3)


def test_interpolation_frames_and_gif(trained, tmp_path):
    assert main(["generate", "--checkpoint", str(trained), "--out", str(tmp_path), "--interpolate", "3",
                 "--frames", "5"]) == 0
    assert len(list(tmp_path.glob("frame_*.png"))) == 15
    with Image.open(tmp_path / "interpolation.gif") as gif:
        assert gif.n_frames == 15 and gif.size == (32, 32)


def test_python_api(trained):
    run = load_run(trained)
    assert run.depth == 4 and run.alpha == 1.0 and run.images_shown == 128
    assert run.sampler is run.generator_ema
    z = torch.randn(3, 128)
    by_config = load_generator("pggan-small", trained)  # a run folder: its newest checkpoint, the EMA weights
    from_metadata = load_generator(weights=list_checkpoints(trained / "checkpoints")[-1] / "generator.safetensors")
    with torch.no_grad():
        assert torch.equal(by_config(z), run.generator_ema(z))
        assert torch.equal(from_metadata(z), run.generator(z))
    shallow = load_generator("pggan-small", trained, depth=2)
    assert shallow(z).shape == (3, 3, 8, 8)
    discriminator = load_discriminator(weights=trained)
    assert discriminator(torch.randn(3, 3, 32, 32)).shape == (3,)


def test_mismatches_are_listed_in_one_error(trained, write):
    narrow = write("""
        network: generator
        base: pggan-small
        stages:
          - resolution: 4
            layers: [{type: pixelnorm}, {type: dense, channels: 128, reshape: [4, 4], gain: 0.3535533905932738},
                     {type: pixelnorm}, {type: conv, channels: 128}, {type: pixelnorm}]
          - {resolution: 8, layers: [{use: grow, channels: 96}]}
          - {resolution: 16, layers: [{use: grow, channels: 64}, {type: conv, channels: 64}]}
        """, "narrow/generator.yaml")
    with pytest.raises(WeightsError) as caught:
        load_generator(narrow, trained)
    message = str(caught.value)
    assert "the weights do not fit the network 'narrow'" in message
    assert "missing tensors (2):\n    stages.16x16.5.weight [64×64×3×3] — stage 16×16, layer 5 (conv 3×3)" in message
    # the file's own tensors are labelled from the spec the file carries
    assert ("unexpected tensors (6):\n    stages.32x32.1.bias [32] — stage 32×32, layer 1 (conv 3×3) in the file's "
            "spec") in message
    assert "    to_rgb.32x32.0.weight [3×32×1×1] — stage 32×32 to_rgb, layer 0 (to_rgb 1×1) in the file's spec" in message
    assert ("shape mismatches (6):\n    stages.8x8.1.weight: expected [96×128×3×3], found [128×128×3×3] — "
            "stage 8×8, layer 1 (conv 3×3)") in message
    assert "to_rgb.8x8.0.weight: expected [3×96×1×1], found [3×128×1×1] — stage 8×8 to_rgb, layer 0 (to_rgb 1×1)" in message
    assert "strict=False (--allow_partial)" in message


def test_partial_load_from_a_lower_resolution_model(trained, write, caplog):
    """A 32×32 network started from a 16×16 one: stages are named by resolution, so the shared ones load."""
    small16 = write("network: generator\nbase: pggan-small\nmax_resolution: 16\n", "small16/generator.yaml")
    lower = build_network(load_spec(small16))
    save_weights(lower, Path(small16).parent / "g16.safetensors")
    with pytest.raises(WeightsError, match=r"missing tensors \(6\)"):
        load_generator("pggan-small", Path(small16).parent / "g16.safetensors")
    generator = load_generator("pggan-small", Path(small16).parent / "g16.safetensors", strict=False)
    assert torch.equal(generator.stage(2)[1].weight, lower.stage(2)[1].weight)
    assert "6 tensors not in the file keep their initial values: stages.32x32.1.weight" in caplog.text


# ---------------------------------------------------------------------------- pro_gan_pytorch


@pytest.fixture(scope="module")
def pro_gan():
    """pro-gan-pth 3.4, which the README's test command installs (with --no-deps: its pins are ancient),
    with the one-line shim torch 2 needs for its transposed convolution (here only)."""
    pytest.importorskip("pro_gan_pytorch", reason="install it as the README's test command does: "
                        "pip install --no-deps pro-gan-pth==3.4")
    from pro_gan_pytorch import custom_layers, networks

    torch_padding = torch.nn.ConvTranspose2d._output_padding
    custom_layers.EqualizedConvTranspose2d._output_padding = (
        lambda self, input, output_size, stride, padding, kernel_size, num_spatial_dims=2, dilation=None:
        torch_padding(self, input, output_size, stride, padding, kernel_size, num_spatial_dims, dilation))
    return networks


def _randomize(module: torch.nn.Module) -> None:
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.normal_(0, 0.5 if parameter.ndim == 1 else 1.0)  # biases start at 0 there: make them count


def test_pro_gan_pytorch_checkpoints_give_identical_outputs(pro_gan, tmp_path):
    torch.manual_seed(5)
    theirs_g, theirs_d = pro_gan.Generator(depth=5), pro_gan.Discriminator(depth=5)
    _randomize(theirs_g)
    _randomize(theirs_d)
    # its own save routines: a network's get_save_info(), and the training checkpoint layout
    torch.save(theirs_g.get_save_info(), tmp_path / "GAN_GEN_SHADOW_4.bin")
    torch.save({"generator": theirs_g.get_save_info(), "discriminator": theirs_d.get_save_info()},
               tmp_path / "depth_5_epoch_1.bin")
    ours_g = load_generator("pro_gan_pytorch", tmp_path / "GAN_GEN_SHADOW_4.bin")
    ours_d = load_discriminator("pro_gan_pytorch", tmp_path / "depth_5_epoch_1.bin")
    assert ours_g.spec.resolutions == [4, 8, 16, 32]
    z = torch.randn(4, 512)
    with torch.no_grad():
        for depth in (2, 3, 4, 5):
            images = torch.randn(4, 3, 2**depth, 2**depth)
            for alpha in (0.0, 0.5, 1.0):
                assert (ours_g(z, depth - 1, alpha) - theirs_g(z, depth, alpha)).abs().max() < 1e-5
                assert (ours_d(images, depth - 1, alpha) - theirs_d(images, depth, alpha)).abs().max() < 1e-5


# --------------------------------------------------------------------------------------- export


def test_onnx_export_matches_pytorch(trained, tmp_path):
    onnxruntime = pytest.importorskip("onnxruntime", reason="onnxruntime is a test dependency")
    pytest.importorskip("onnxscript", reason="onnxscript (for torch's ONNX exporter) is a test dependency")
    assert main(["export", "--checkpoint", str(trained), "--format", "onnx", "--resolution", "16",
                 "--out", str(tmp_path / "g.onnx")]) == 0
    session = onnxruntime.InferenceSession(str(tmp_path / "g.onnx"))
    z = torch.randn(5, 128)
    (images,) = session.run(None, {"z": z.numpy()})
    with torch.no_grad():
        expected = load_run(trained).generator_ema(z, 3, 1.0)
    assert images.shape == (5, 3, 16, 16)
    assert np.abs(images - expected.numpy()).max() < 1e-4


def test_torchscript_export_matches_pytorch(trained, tmp_path):
    assert main(["export", "--checkpoint", str(trained), "--format", "torchscript", "--out", str(tmp_path / "g.pt"),
                 "--no-ema"]) == 0
    scripted = torch.jit.load(str(tmp_path / "g.pt"))
    z = torch.randn(3, 128)
    with torch.no_grad():
        assert torch.allclose(scripted(z), load_run(trained).generator(z), atol=1e-5)


def test_generate_refuses_unclear_requests(trained, tmp_path, capsys):
    assert main(["generate", "--out", str(tmp_path)]) == 1
    assert "name a model" in capsys.readouterr().err
    assert main(["generate", "--checkpoint", str(trained), "--resolution", "20", "--out", str(tmp_path)]) == 1
    assert "this generator has stages at 4, 8, 16, 32" in capsys.readouterr().err
    assert main(["generate", "--checkpoint", str(trained), "--generator_file", "x", "--out", str(tmp_path)]) == 1
