"""The speed options must not change the math: on the CPU the fast path gives the plain path's losses."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from archgan.cli import main


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
