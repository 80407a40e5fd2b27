"""Exact resume: a run stopped by a signal and resumed with --resume ends with bit-identical weights
to a run that was never stopped (on the CPU, on the same machine)."""
from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from archgan.training.checkpoint import load_state
from archgan.training.files import list_checkpoints

REPO = Path(__file__).resolve().parent.parent
TOTAL_IMAGES = 288
NETWORK_FILES = ("generator.safetensors", "discriminator.safetensors", "generator_ema.safetensors")


@pytest.fixture
def arguments(write, image_folder, tmp_path):
    """A 3-stage run on 40 images, batch 8: stage 4 stable for 128 images, then 64 fading + 64 stable per
    stage. A checkpoint every epoch (40 images) puts several of them inside fade-ins. Adam's state carries
    over when a stage grows (as in the default run), so what a checkpoint saves of it lasts to the end."""
    generator = write("network: generator\nbase: pggan-small\nmax_resolution: 16\n", "small16/generator.yaml")
    discriminator = write("network: discriminator\nbase: pggan-small\nmax_resolution: 16\n", "small16/discriminator.yaml")
    training = write("loss: wgan-gp\nfade_kimg: 0.064\nstable_kimg: [0.128, 0.064, 0.064]\nbatch_size: 8\n"
                     "mirror: true\nema_warmup: true\nlog_every: 3\nreset_optimizers_on_grow: false\n",
                     "small16/training.yaml")

    def make(run_dir: Path, *extra: str) -> list[str]:
        return [sys.executable, str(REPO / "train.py"), "--generator_config", str(generator), "--discriminator_config",
                str(discriminator), "--training_config", str(training), "--images_dir", str(image_folder),
                "--run_dir", str(run_dir), "--checkpoint_factor", "1", "--feedback_factor", "1", "--num_workers", "1",
                "--max_images", str(TOTAL_IMAGES), *extra]

    return make


def _environment(tmp_path: Path) -> dict[str, str]:
    import os

    return {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}


def _final_weights(run_dir: Path) -> dict[str, dict[str, torch.Tensor]]:
    checkpoint = list_checkpoints(run_dir / "checkpoints")[-1]
    assert load_state(checkpoint / "training_state.safetensors")["images_shown"] == TOTAL_IMAGES
    return {name: load_file(checkpoint / name) for name in NETWORK_FILES}


def _assert_identical(a: dict, b: dict) -> None:
    for name in NETWORK_FILES:
        assert a[name].keys() == b[name].keys()
        for key in a[name]:
            assert torch.equal(a[name][key], b[name][key]), f"{name}:{key} differs"


@pytest.fixture
def uninterrupted(arguments, tmp_path):
    run_dir = tmp_path / "whole"
    subprocess.run(arguments(run_dir), check=True, env=_environment(tmp_path), capture_output=True)
    return _final_weights(run_dir)


def test_killed_after_a_mid_fade_checkpoint_then_resumed(arguments, uninterrupted, tmp_path):
    run_dir = tmp_path / "killed"
    process = subprocess.Popen(arguments(run_dir), env=_environment(tmp_path), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    mid_fade = None
    deadline = time.time() + 120
    while mid_fade is None and time.time() < deadline and process.poll() is None:
        for checkpoint in list_checkpoints(run_dir / "checkpoints"):
            state = load_state(checkpoint / "training_state.safetensors")
            if 128 < state["images_shown"] < 192:  # the 8×8 stage is fading in
                mid_fade = checkpoint
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert mid_fade is not None, "no checkpoint was written during the 8×8 fade-in"
    # resume from the mid-fade checkpoint itself, whatever the process managed to write after it
    for later in list_checkpoints(run_dir / "checkpoints"):
        if later.name > mid_fade.name:
            shutil.rmtree(later)
    resumed = subprocess.run([sys.executable, str(REPO / "train.py"), "--resume", str(run_dir), "--max_images",
                              str(TOTAL_IMAGES)], env=_environment(tmp_path), capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed from" in resumed.stderr + resumed.stdout
    _assert_identical(_final_weights(run_dir), uninterrupted)


def test_interrupted_by_sigterm_writes_a_checkpoint_and_resumes_exactly(arguments, uninterrupted, tmp_path):
    run_dir = tmp_path / "stopped"
    process = subprocess.Popen(arguments(run_dir), env=_environment(tmp_path), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and process.poll() is None:
        metrics = run_dir / "logs" / "metrics.jsonl"
        if metrics.exists() and any(json.loads(line)["images"] > 150 for line in metrics.read_text().splitlines()):
            break
        time.sleep(0.01)
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 130, output
    assert "--resume" in output
    stopped_at = load_state(list_checkpoints(run_dir / "checkpoints")[-1] / "training_state.safetensors")["images_shown"]
    assert stopped_at < TOTAL_IMAGES
    resumed = subprocess.run([sys.executable, str(REPO / "train.py"), "--resume", str(run_dir), "--max_images",
                              str(TOTAL_IMAGES)], env=_environment(tmp_path), capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    _assert_identical(_final_weights(run_dir), uninterrupted)


def test_resume_accepts_the_same_command_and_refuses_changes(write, image_folder, tmp_path, capsys, monkeypatch):
    """The command that started a run, with --resume added, continues it; a flag that would change the run
    is refused with what the run was started with. Without --max_images it goes to the end of its schedule."""
    from archgan.cli import main

    generator = write("network: generator\nbase: pggan-small\nmax_resolution: 8\n", "s/generator.yaml")
    discriminator = write("network: discriminator\nbase: pggan-small\nmax_resolution: 8\n", "s/discriminator.yaml")
    training = write("loss: hinge\nfade_kimg: 0.016\nstable_kimg: 0.016\nbatch_size: 8\n", "s/training.yaml")
    run_dir = tmp_path / "run"
    command = ["train", "--generator_config", str(generator), "--discriminator_config", str(discriminator),
               "--training_config", str(training), "--images_dir", str(image_folder), "--run_dir", str(run_dir),
               "--seed", "3"]
    assert main([*command, "--max_images", "16"]) == 0
    assert load_state(list_checkpoints(run_dir / "checkpoints")[-1] / "training_state.safetensors")["images_shown"] == 16
    assert main([*command, "--resume", str(run_dir), "--seed", "4"]) == 1
    error = capsys.readouterr().err
    assert f"--seed: the run in {run_dir} was started otherwise (it was 3, the flag gives 4)" in error
    assert main([*command, "--resume", str(run_dir), "--batch_size", "4"]) == 1
    error = capsys.readouterr().err
    assert "--batch_size: the run in" in error and "batch_size was 8, the flags give 4" in error
    monkeypatch.chdir(tmp_path)  # relative paths that name the same folders are the same settings
    relative = [word.replace(str(tmp_path) + "/", "") for word in command]
    assert main([*relative, "--resume", "run"]) == 0
    assert load_state(list_checkpoints(run_dir / "checkpoints")[-1] / "training_state.safetensors")["images_shown"] == 48
    assert main(["train", "--resume", str(tmp_path / "none")]) == 1
    assert "no complete checkpoint" in capsys.readouterr().err
