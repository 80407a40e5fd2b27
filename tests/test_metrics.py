"""Quality measures: SWD against a NumPy/SciPy transcription of the official algorithm, its behaviour
on real images, MS-SSIM's two ends, FID through torch-fidelity with a local weights file."""
from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.ndimage
import torch
import torch.nn.functional as F

from archgan.cli import main
from archgan.data.folder import load_image_folder
from archgan.metrics.measure import compute, reals_uint8
from archgan.resources import bundled_emoji_dir
from archgan.metrics.fid import InceptionWeightsError, fid_kid
from archgan.metrics.ms_ssim import ms_ssim_pairs
from archgan.metrics.swd import (descriptors, laplacian_pyramid, levels_for, normalize, random_directions,
                                 random_positions, sliced_wasserstein, swd)


# ------------------------------------------------- the official algorithm, transcribed in NumPy/SciPy

def _official_pyramid(images: np.ndarray, levels: int) -> list[np.ndarray]:
    kernel = np.float32([1, 4, 6, 4, 1])
    kernel = np.outer(kernel, kernel)[np.newaxis, np.newaxis] / 256

    def down(x):
        return scipy.ndimage.convolve(x, kernel, mode="mirror")[:, :, ::2, ::2]

    def up(x):
        result = np.zeros((x.shape[0], x.shape[1], x.shape[2] * 2, x.shape[3] * 2), x.dtype)
        result[:, :, ::2, ::2] = x
        return scipy.ndimage.convolve(result, kernel * 4.0, mode="mirror")

    pyramid = [images.astype(np.float32)]
    for _ in range(1, levels):
        pyramid.append(down(pyramid[-1]))
        pyramid[-2] = pyramid[-2] - up(pyramid[-1])
    return pyramid


def _official_descriptors(level: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    shape = level.shape
    count = len(x)
    nhood, channel, dx, dy = np.ogrid[0:count, 0:shape[1], -3:4, -3:4]
    image = nhood // (count // shape[0])
    xs, ys = dx + x.reshape(-1, 1, 1, 1), dy + y.reshape(-1, 1, 1, 1)
    index = ((image * shape[1] + channel) * shape[2] + ys) * shape[3] + xs
    return level.flat[index]


def _official_finalize(desc: np.ndarray) -> np.ndarray:
    desc = desc - np.mean(desc, axis=(0, 2, 3), keepdims=True)
    desc = desc / np.std(desc, axis=(0, 2, 3), keepdims=True)
    return desc.reshape(desc.shape[0], -1)


def _official_swd(a: np.ndarray, b: np.ndarray, directions: list[np.ndarray]) -> float:
    results = []
    for dirs in directions:
        project_a, project_b = np.sort(a @ dirs, axis=0), np.sort(b @ dirs, axis=0)
        results.append(np.mean(np.abs(project_a - project_b)))
    return float(np.mean(results))


def test_swd_equals_a_transcription_of_the_official_code():
    """The same images, neighbourhood positions and directions through both; float32 as the official
    code, so the two agree to 1e-4 relative (float32 sums in another order)."""
    generator = torch.Generator().manual_seed(11)
    real = torch.randint(0, 256, (12, 3, 64, 64), generator=generator, dtype=torch.uint8)
    fake = (real.float() * 0.7 + torch.rand(12, 3, 64, 64, generator=generator) * 60).to(torch.uint8)
    levels = levels_for(64)
    assert levels == 3
    ours_real, ours_fake = laplacian_pyramid(real.float(), levels), laplacian_pyramid(fake.float(), levels)
    theirs_real, theirs_fake = _official_pyramid(real.numpy(), levels), _official_pyramid(fake.numpy(), levels)
    for index in range(levels):
        assert np.allclose(ours_real[index].numpy(), theirs_real[index], atol=1e-3)
        size = ours_real[index].shape[-1]
        x_r, y_r = random_positions(12, size, size, generator)
        x_f, y_f = random_positions(12, size, size, generator)
        ours_a = normalize(descriptors(ours_real[index], x_r, y_r))
        ours_b = normalize(descriptors(ours_fake[index], x_f, y_f))
        theirs_a = _official_finalize(_official_descriptors(theirs_real[index], x_r.numpy(), y_r.numpy()))
        theirs_b = _official_finalize(_official_descriptors(theirs_fake[index], x_f.numpy(), y_f.numpy()))
        assert np.allclose(ours_a.numpy(), theirs_a, atol=1e-4)
        directions = random_directions(ours_a.shape[1], generator)
        ours = sliced_wasserstein(ours_a, ours_b, directions) * 1e3
        theirs = _official_swd(theirs_a, theirs_b, [d.numpy() for d in directions]) * 1e3
        assert ours == pytest.approx(theirs, rel=1e-4)


@pytest.fixture(scope="module")
def emoji() -> torch.Tensor:
    cache = load_image_folder(bundled_emoji_dir(), 32, 3)
    return reals_uint8(cache.images, 32, 512, seed=1)


def test_swd_grows_with_noise_and_blur_at_every_level(emoji):
    """Two halves of the bundled emoji are close; adding noise or blur of growing strength to one half
    moves it away at every level. The same seed (neighbourhoods, directions) pairs the comparisons."""
    half_a, half_b = emoji[:256], emoji[256:]
    baseline = swd(half_a, half_b).per_level
    noisy = [swd(half_a, (half_b.float() + torch.randn(half_b.shape, generator=torch.Generator().manual_seed(2)) * s)
                 .round().clamp(0, 255).to(torch.uint8)).per_level for s in (24, 100)]
    blurred = []
    for row in (torch.tensor([1, 2, 1]) / 4.0, torch.tensor([1, 6, 15, 20, 15, 6, 1]) / 64.0):
        kernel = torch.outer(row, row).expand(3, 1, len(row), len(row))
        pad = len(row) // 2
        soft = F.conv2d(F.pad(half_b.float(), (pad,) * 4, mode="reflect"), kernel, groups=3)
        blurred.append(swd(half_a, soft.round().to(torch.uint8)).per_level)
    assert swd(half_a, half_a).per_level[32] < baseline[32]
    for level in baseline:
        for series in (noisy, blurred):
            values = [baseline[level]] + [result[level] for result in series]
            assert values == sorted(values), (level, values)
    assert noisy[-1][32] > 3 * baseline[32] and blurred[-1][32] > 2 * baseline[32]


def test_ms_ssim_of_identical_images_is_one_and_of_noise_near_zero():
    image = torch.randint(0, 256, (1, 3, 64, 64), dtype=torch.uint8)
    assert ms_ssim_pairs(image.repeat(8, 1, 1, 1)) == pytest.approx(1.0, abs=1e-5)
    noise = torch.randint(0, 256, (16, 3, 256, 256), dtype=torch.uint8, generator=torch.Generator().manual_seed(3))
    assert ms_ssim_pairs(noise) < 0.15


def test_fid_without_weights_fails_fast_and_says_what_to_get(monkeypatch, tmp_path):
    monkeypatch.delenv("ARCHGAN_INCEPTION_WEIGHTS", raising=False)
    images = torch.zeros(4, 3, 16, 16, dtype=torch.uint8)
    with pytest.raises(InceptionWeightsError) as caught:
        fid_kid(images, images, None)
    message = str(caught.value)
    assert "weights-inception-2015-12-05-6726825d.pth" in message and "--inception_weights" in message
    assert "ARCHGAN_INCEPTION_WEIGHTS" in message and "never downloads" in message
    with pytest.raises(InceptionWeightsError, match="nowhere.pth does not exist"):
        fid_kid(images, images, tmp_path / "nowhere.pth")


class _Planted:
    """Unpickling this runs a command: what a hostile weights file does."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_fid_weights_that_would_run_code_are_refused_unopened(tmp_path):
    marker, hostile = tmp_path / "ran", tmp_path / "weights-inception-2015-12-05-6726825d.pth"
    torch.save({"fc.weight": torch.zeros(1), "payload": _Planted(marker)}, hostile)
    images = torch.zeros(4, 3, 16, 16, dtype=torch.uint8)
    with pytest.raises(InceptionWeightsError, match="not a plain state dict"):
        fid_kid(images, images, hostile)
    assert not marker.exists()


@pytest.fixture
def inception_file(tmp_path, monkeypatch):
    """A weights file in the format torch-fidelity reads, with random weights (nothing is downloaded):
    the comparison below is about our wrapper against the package, not about Inception itself."""
    from torch_fidelity import feature_extractor_inceptionv3 as module

    with monkeypatch.context() as patch:
        patch.setattr(module, "load_state_dict_from_url", lambda *args, **kwargs: None)
        patch.setattr(module.FeatureExtractorInceptionV3, "load_state_dict", lambda self, state, *a, **k: None)
        torch.manual_seed(0)
        extractor = module.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    path = tmp_path / "weights-inception-2015-12-05-6726825d.pth"
    torch.save(extractor.state_dict(), path)
    return path


def test_fid_matches_torch_fidelity_itself(inception_file):
    import torch_fidelity
    from archgan.metrics.fid import _Images

    generator = torch.Generator().manual_seed(4)
    real = torch.randint(0, 256, (10, 3, 32, 32), generator=generator, dtype=torch.uint8)
    fake = torch.randint(0, 128, (10, 3, 32, 32), generator=generator, dtype=torch.uint8)
    ours = fid_kid(real, fake, inception_file)
    theirs = torch_fidelity.calculate_metrics(input1=_Images(fake), input2=_Images(real), fid=True, kid=True,
                                              verbose=False, cuda=False, kid_subset_size=10, save_cpu_ram=True,
                                              feature_extractor_weights_path=str(inception_file))
    assert ours["fid"] == pytest.approx(theirs["frechet_inception_distance"], rel=1e-6)
    assert ours["kid"] == pytest.approx(theirs["kernel_inception_distance_mean"], rel=1e-6)
    assert compute(["fid"], real, fake, inception_weights=inception_file)["fid"] == pytest.approx(ours["fid"])


def test_trainer_and_cli_metrics(image_folder, tmp_path, write, capsys):
    small16 = [write("network: generator\nbase: pggan-small\nmax_resolution: 16\n", "s/generator.yaml"),
               write("network: discriminator\nbase: pggan-small\nmax_resolution: 16\n", "s/discriminator.yaml")]
    training = write("loss: hinge\nbatch_size: 8\nmetrics: [swd, msssim]\nmetrics_images: 40\n", "s/training.yaml")
    run_dir = tmp_path / "run"
    assert main(["train", "--images_dir", str(image_folder), "--run_dir", str(run_dir), "--generator_config",
                 str(small16[0]), "--discriminator_config", str(small16[1]), "--training_config", str(training),
                 "--kimg", "0.032"]) == 0
    records = [json.loads(line) for line in (run_dir / "logs" / "metrics.jsonl").read_text().splitlines()]
    measured = [r for r in records if r.get("kind") == "metrics"]
    assert [r["resolution"] for r in measured] == [4, 8, 16]  # the end of every stage (the last: of training)
    assert "swd/16" in measured[-1] and "swd/avg" in measured[-1] and "msssim/fake" in measured[0]
    assert (run_dir / "plots" / "metrics.png").stat().st_size > 1000
    capsys.readouterr()
    assert main(["metrics", "--checkpoint", str(run_dir), "--num", "40", "--metrics", "swd,msssim"]) == 0
    out = capsys.readouterr().out
    assert "40 real and 40 generated images at 16×16" in out and "swd/avg" in out
    assert json.loads((run_dir / "logs" / "metrics.jsonl").read_text().splitlines()[-1])["num"] == 40
    assert main(["metrics", "--checkpoint", str(run_dir), "--metrics", "swdd"]) == 1
    assert "unknown metric swdd" in capsys.readouterr().err
