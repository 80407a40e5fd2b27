"""More than one process: torchrun with Gloo on the CPU, two processes on this machine."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from archgan.cli import main
from archgan.training.checkpoint import load_state
from archgan.training.files import list_checkpoints
from archgan.training.distributed import Distribution, shard_rows

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def files(write):
    generator = write("network: generator\nbase: pggan-small\nmax_resolution: 16\n", "s/generator.yaml")
    discriminator = write("network: discriminator\nbase: pggan-small\nmax_resolution: 16\n", "s/discriminator.yaml")

    def training(loss: str) -> Path:
        return write(f"loss: {loss}\nbatch_size: 16\nfade_kimg: 0.032\nstable_kimg: 0.032\nlog_every: 1\n",
                     f"s/training-{loss}.yaml")

    return generator, discriminator, training


PLAIN_PATH = ("--no-amp", "--no-channels_last")
"""The comparisons of N processes with one are of float32 runs in the plain memory layout: bf16 autocast and
channels_last (on by default on a CPU with native bf16) round each process's half batch otherwise than the
whole batch, which Adam's first steps amplify."""


def _arguments(files, loss: str, images: Path, run_dir: Path, *extra: str) -> list[str]:
    generator, discriminator, training = files
    return ["--generator_config", str(generator), "--discriminator_config", str(discriminator), "--training_config",
            str(training(loss)), "--images_dir", str(images), "--run_dir", str(run_dir), "--num_workers", "1",
            *PLAIN_PATH, *extra]


def _torchrun(arguments: list[str], tmp_path: Path, processes: int = 2) -> subprocess.CompletedProcess:
    environment = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}",
               str(REPO / "train.py"), *arguments]
    return subprocess.run(command, env=environment, capture_output=True, text=True, timeout=300)


def _losses(run_dir: Path) -> list[tuple[float, float]]:
    records = [json.loads(line) for line in (run_dir / "logs" / "metrics.jsonl").read_text().splitlines()]
    return [(r["loss/D"], r["loss/G"]) for r in records if "loss/D" in r]


def _relative_difference(a: Path, b: Path, name: str) -> float:
    first, second = load_file(a / name), load_file(b / name)
    difference = sum(((first[k] - second[k]).double() ** 2).sum() for k in first if first[k].is_floating_point())
    return (difference / sum((first[k].double() ** 2).sum() for k in first if first[k].is_floating_point())).sqrt().item()


def _assert_same_training(one: Path, two: Path) -> None:
    single, double = _losses(one), _losses(two)
    assert len(single) == len(double) == 10
    # the same to float precision at first; then Adam, whose steps are ±lr wherever a gradient is near 0,
    # lets rounding differences (the two processes sum in another order) grow a little
    for step, ((d1, g1), (d2, g2)) in enumerate(zip(single, double)):
        tolerance = 1e-5 if step < 3 else 1e-2
        assert d2 == pytest.approx(d1, rel=tolerance, abs=tolerance) and g2 == pytest.approx(g1, rel=tolerance, abs=tolerance)
    last_one, last_two = list_checkpoints(one / "checkpoints")[-1], list_checkpoints(two / "checkpoints")[-1]
    for name in ("generator.safetensors", "discriminator.safetensors", "generator_ema.safetensors"):
        assert _relative_difference(last_one, last_two, name) < 1e-3, name


def train_run(arguments: list[str], images: Path, run_dir: Path, *extra: str) -> int:
    """`archgan train` with these files on `images` into `run_dir`, a sample grid and checkpoint every epoch."""
    return main(["train", *arguments, "--images_dir", str(images), "--run_dir", str(run_dir), "--num_workers", "1",
                 "--feedback_factor", "1", "--checkpoint_factor", "1", *extra])


def assert_two_processes_train_as_one(arguments: list[str], images: Path, tmp_path: Path) -> tuple[Path, Path]:
    """The files trained for 10 steps of 16 images in two processes (--check_sync) and in one: the same
    losses and weights (_assert_same_training). Returns the two run folders (one process, two)."""
    two, one = tmp_path / "two", tmp_path / "one"
    common = [*arguments, *PLAIN_PATH, "--images_dir", str(images), "--num_workers", "1", "--batch_size", "16",
              "--set", "fade_kimg=0.032", "--set", "stable_kimg=0.032"]
    result = _torchrun([*common, "--run_dir", str(two), "--check_sync"], tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert main(["train", *common, "--run_dir", str(one)]) == 0
    _assert_same_training(one, two)
    return one, two


def test_two_processes_stay_in_step_equal_one_and_resume_in_one(files, image_folder, tmp_path):
    """The relativistic hinge, which compares each score with the mean over the whole batch (across the
    processes), through a stage change (4→8→16): two processes with --check_sync (which fails the run unless
    both ranks hold identical parameters after every step) up to 80 images, written once by rank 0; the
    checkpoint resumes in one process; all of it trains as one process with the same global batch does."""
    two = tmp_path / "two"
    result = _torchrun(_arguments(files, "relativistic-hinge", image_folder, two, "--check_sync", "--max_images", "80"),
                       tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert len(list((two / "logs").glob("events.out.tfevents.*"))) == 1
    assert (two / "logs" / "train.log").read_text().count("8×8 fade from") == 1
    assert result.stdout.count("run folder:") == 1
    assert load_state(list_checkpoints(two / "checkpoints")[-1] / "training_state.safetensors")["images_shown"] == 80
    assert main(["train", "--resume", str(two), "--max_images", "160"]) == 0
    one = tmp_path / "one"
    assert main(["train", *_arguments(files, "relativistic-hinge", image_folder, one)]) == 0
    _assert_same_training(one, two)


def test_a_global_batch_that_does_not_divide_is_refused(files, image_folder, tmp_path):
    result = _torchrun(_arguments(files, "hinge", image_folder, tmp_path / "run", "--batch_size", "9"), tmp_path)
    assert result.returncode != 0
    assert "the global batch size 9 of the 4×4 stage does not divide among 2 processes" in result.stdout + result.stderr


def test_minibatch_stddev_groups_land_whole_on_one_rank():
    """Group m of a batch of 16 in groups of 4 is rows {m, m+4, m+8, m+12}: with 2 processes, rank 0 takes
    groups 0 and 1, rank 1 groups 2 and 3, each in the order the layer reads them."""
    rank0 = shard_rows(16, Distribution(0, 2), 4).tolist()
    rank1 = shard_rows(16, Distribution(1, 2), 4).tolist()
    assert rank0 == [0, 1, 4, 5, 8, 9, 12, 13] and rank1 == [2, 3, 6, 7, 10, 11, 14, 15]
    local_groups = lambda rows: [sorted(rows[m::2]) for m in range(2)]  # a local batch of 8 in groups of 4
    assert local_groups(rank0) == [[0, 4, 8, 12], [1, 5, 9, 13]]
    assert shard_rows(16, Distribution(), 4) is None
    assert shard_rows(6, Distribution(1, 2), 4).tolist() == [3, 4, 5]  # groups that cannot align: halves
    assert torch.cat([shard_rows(12, Distribution(r, 3), 4) for r in range(3)]).sort().values.tolist() == list(range(12))
