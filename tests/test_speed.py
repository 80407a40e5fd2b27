"""The speed options must not change the math: on the CPU the fast path gives the plain path's losses."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from archgan.cli import main
from archgan.networks.fade import fade_in
from archgan.training.speed import SPEED_OPTIONS, default_speed


def _losses(run_dir: Path) -> list[tuple[float, float]]:
    records = [json.loads(line) for line in (run_dir / "logs" / "metrics.jsonl").read_text().splitlines()]
    return [(r["loss/D"], r["loss/G"]) for r in records if "loss/D" in r]


@pytest.fixture
def run(write, image_folder, tmp_path):
    generator = write("network: generator\nbase: pggan-small\nmax_resolution: 16\n", "s/generator.yaml")
    discriminator = write("network: discriminator\nbase: pggan-small\nmax_resolution: 16\n", "s/discriminator.yaml")
    training = write("loss: wgan-gp\nbatch_size: 8\nfade_kimg: 0.016\nstable_kimg: 0.016\nlog_every: 1\n", "s/t.yaml")

    def train(name: str, *flags: str) -> list[tuple[float, float]]:
        assert main(["train", "--generator_config", str(generator), "--discriminator_config", str(discriminator),
                     "--training_config", str(training), "--images_dir", str(image_folder), "--run_dir",
                     str(tmp_path / name), *flags]) == 0
        return _losses(tmp_path / name)

    return train


def test_channels_last_gives_the_plain_losses(run):
    plain = run("plain", "--no-channels_last", "--no-amp")
    fast = run("fast", "--channels_last", "--no-amp")
    assert len(plain) == len(fast) == 10
    for step, ((d1, g1), (d2, g2)) in enumerate(zip(plain, fast)):
        tolerance = 1e-4 if step < 3 else 1e-2  # later, Adam lets rounding differences grow a little
        assert d2 == pytest.approx(d1, rel=tolerance, abs=tolerance) and g2 == pytest.approx(g1, rel=tolerance, abs=tolerance)


def test_bf16_autocast_stays_close(run):
    """bf16 keeps 8 bits of mantissa: the first losses agree to a few percent, and training runs through."""
    plain = run("plain", "--no-amp")
    amp = run("amp", "--amp")
    assert len(amp) == 10
    assert amp[0][0] == pytest.approx(plain[0][0], rel=0.05) and amp[0][1] == pytest.approx(plain[0][1], rel=0.05, abs=0.05)


def test_speed_defaults_follow_the_device(monkeypatch):
    """All on for CUDA; on a CPU bf16 autocast and channels_last only where oneDNN has native bf16 kernels."""
    assert default_speed("cuda:1") == dict.fromkeys(SPEED_OPTIONS, True)
    assert not any(default_speed("mps").values())
    native = torch.ops.mkldnn._is_mkldnn_bf16_supported()
    assert default_speed("cpu") == {"amp": native, "channels_last": native, "tf32": False, "cudnn_benchmark": False}
    monkeypatch.setattr(torch.backends.mkldnn, "is_available", lambda: False)
    assert not any(default_speed("cpu").values())


def test_a_fade_between_a_bf16_path_and_a_float32_one_is_float32():
    """Under autocast a convolution's path is bf16 and an attention's float32 (APGAN fading in): fade_in
    blends them in float32 instead of failing."""
    old, new = torch.tensor([0.0, 1.0]).bfloat16(), torch.tensor([1.0, 3.0])
    for alpha in (0.25, torch.tensor(0.25)):
        assert torch.equal(fade_in(old, new, alpha), torch.tensor([0.25, 1.5]))
