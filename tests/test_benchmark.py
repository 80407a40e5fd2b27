"""The benchmarks' own code: the speed scripts run end to end (on the CPU, at tiny sizes; their figures matter
on a GPU), and the quality race schedules both sides alike and gives the peer archgan's loss."""
from __future__ import annotations

import importlib
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from archgan.losses import build_loss, normalize_loss

REPO = Path(__file__).resolve().parent.parent


def _benchmark(name: str):
    """A script of benchmarks/ as a module (it puts the repository and benchmarks/ on the path itself)."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(REPO / "benchmarks"))


def test_throughput_benchmark_runs_at_tiny_sizes(tmp_path):
    result = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "throughput.py"), "--device", "cpu", "--resolutions", "4",
         "--batch_scale", "0.0625", "--warmup", "1", "--steps", "1", "--repeats", "1", "--peer_dir",
         str(tmp_path / "peers"), "--json", str(tmp_path / "figures.json")],
        capture_output=True, text=True, timeout=600, env={"XDG_CACHE_HOME": str(tmp_path / "cache"),
                                                          "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "| 4 | 16 |" in result.stdout and "| 64 | 4 |" in result.stdout
    figures = json.loads((tmp_path / "figures.json").read_text())
    assert [row["resolution"] for row in figures["progan"]] == [4]
    assert all(row["archgan"] > 0 and row["tflops"] > 0 for row in figures["progan"] + [figures["fagan"]])


def test_the_gpu_check_runs_dry_on_the_cpu(tmp_path):
    """benchmarks/gpu_check.sh --dry-run: every section of the GPU check (but the peers, which the test above
    runs) on the CPU at tiny sizes, writing its JSON and markdown."""
    out = tmp_path / "out"
    result = subprocess.run(
        ["bash", str(REPO / "benchmarks" / "gpu_check.sh"), "--dry-run", "--no-peers", "--families", "dcgan,pggan-conditional",
         "--out", str(out)], capture_output=True, text=True, timeout=600,
        env={**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "HOME": str(tmp_path)},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    figures = json.loads((out / "gpu_check.json").read_text())
    assert [(row["family"], row["resolution"]) for row in figures["families"]] == \
        [("dcgan", 64), ("pggan-conditional", 4), ("pggan-conditional", 8)]
    assert all(row["images_per_second"] > 0 and row["tflops"] > 0 for row in figures["families"])
    assert [row["options"] for row in figures["switches"]] == [
        "every option off", "amp alone", "channels_last alone", "tf32 alone", "cudnn_benchmark alone", "the defaults",
        "defaults + compile", "defaults + compile + cuda_graphs", "defaults, weight scales left out"]
    assert all(row["images_per_second"] > 0 for row in figures["switches"])
    assert figures["bf16"]["steps"] == 3 and figures["bf16"]["max_relative_difference"] < 0.05
    assert all(step["returncode"] == 0 for step in figures["end_to_end"].values())
    assert "| dcgan | 64 | 4 |" in (out / "gpu_check.md").read_text()


def test_the_race_gives_each_stage_twice_the_time_of_the_one_below():
    """15 s over 4 stages: 1, 2, 4 and 8 s; a later stage fades in over the first half of its time."""
    quality = _benchmark("quality")
    ticks = (0.5 * tick for tick in itertools.count())  # every look at the clock moves it half a second
    calls: list[tuple[int, float]] = []
    steps = quality.race(lambda stage, alpha: calls.append((stage, alpha)), 15, 4, clock=lambda: next(ticks))
    assert steps == len(calls) == 29
    assert [sum(stage == k for stage, _ in calls) for k in range(4)] == [1, 4, 8, 16]
    assert [alpha for stage, alpha in calls if stage == 2] == [0, 0.25, 0.5, 0.75, 1, 1, 1, 1]


def test_the_race_trains_pro_gan_pytorch_with_archgans_loss():
    """The peer's side of the race gets the logistic loss with R1 exactly as archgan computes it."""
    pytest.importorskip("pro_gan_pytorch")
    from pro_gan_pytorch import losses, networks

    quality = _benchmark("quality")
    torch.manual_seed(0)
    discriminator = networks.Discriminator(depth=3, num_channels=3, latent_size=16)
    real, fake = torch.randn(4, 3, 16, 16), torch.randn(4, 3, 16, 16)
    theirs = quality.logistic_r1(losses.GANLoss)().dis_loss(discriminator, real, fake, 3, 0.5)
    ours = build_loss(normalize_loss(quality.RACE["loss"]))
    score = lambda images: discriminator(images, 3, 0.5).view(-1)  # noqa: E731
    assert theirs.item() == pytest.approx(ours.discriminator(score, real, fake, None)["loss"].item(), rel=1e-6)
    assert quality.logistic_r1(losses.GANLoss)().gen_loss(discriminator, real, fake, 3, 0.5).item() == \
        pytest.approx(ours.generator(score, real, fake, None)["loss"].item(), rel=1e-6)


def test_an_extra_average_with_the_runs_half_life_ends_as_the_runs_own(image_folder, tmp_path, write):
    """ema_half_life.py's claim: an extra average is what a run with that ema_kimg would end with."""
    small16 = [write("network: generator\nbase: pggan-small\nmax_resolution: 16\n", "s/generator.yaml"),
               write("network: discriminator\nbase: pggan-small\nmax_resolution: 16\n", "s/discriminator.yaml")]
    training = write("loss: hinge\nbatch_size: 8\nema_kimg: 0.05\nstable_kimg: 0.032\nfade_kimg: 0.016\n",
                     "s/training.yaml")
    table = _benchmark("ema_half_life").main(
        ["--half_lives", "0.05,0.01", "--metric_images", "40", "--", "--images_dir", str(image_folder),
         "--run_dir", str(tmp_path / "run"), "--generator_config", str(small16[0]), "--discriminator_config",
         str(small16[1]), "--training_config", str(training)])
    assert table["ema_kimg 0.05"] == table["the run's average"]
    assert table["ema_kimg 0.01"] != table["the run's average"] != table["trained generator"]
    assert json.loads((tmp_path / "run" / "ema_half_life.json").read_text()) == table
