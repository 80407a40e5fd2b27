"""End-to-end training on tiny image folders: every loss through three stages, what a run writes,
corrupt files, and the command-line flags."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from archgan.cli import main
from archgan.training.checkpoint import load_state
from archgan.training.files import list_checkpoints

LOSSES = ["wgan-gp", "hinge", "relativistic-hinge", "lsgan", "logistic"]


@pytest.fixture
def small16(write) -> list[str]:
    """pggan-small cut at 16×16 (three stages: 4, 8, 16), through `base` and `max_resolution`."""
    generator = write("network: generator\nbase: pggan-small\nmax_resolution: 16\n", "small16/generator.yaml")
    discriminator = write("network: discriminator\nbase: pggan-small\nmax_resolution: 16\n", "small16/discriminator.yaml")
    return ["--generator_config", str(generator), "--discriminator_config", str(discriminator)]


def tiny_run(run_dir: Path, images: Path, *extra: str) -> list[str]:
    length = [] if "--num_epochs" in extra else ["--kimg", "0.064"]
    return ["train", "--images_dir", str(images), "--run_dir", str(run_dir), *length,
            "--batch_size", "16", "--feedback_factor", "1", "--checkpoint_factor", "2", *extra]


@pytest.mark.parametrize("loss", LOSSES)
def test_every_loss_trains_through_three_stages(loss, small16, image_folder, tmp_path):
    run_dir = tmp_path / "run"
    assert main(tiny_run(run_dir, image_folder, *small16, "--loss_function", loss)) == 0
    records = [json.loads(line) for line in (run_dir / "logs" / "metrics.jsonl").read_text().splitlines()]
    assert {r["resolution"] for r in records} == {4, 8, 16}
    assert all(math.isfinite(r["loss/D"]) and math.isfinite(r["loss/G"]) for r in records)
    assert records[-1]["images"] == 192
    samples = sorted(p.name for p in (run_dir / "samples").glob("*.png"))
    assert any(name.startswith("8x8-fade-") for name in samples)
    assert any(name.startswith("16x16-stable-") and name.endswith("-final.png") for name in samples)
    checkpoint = list_checkpoints(run_dir / "checkpoints")[-1]
    for name in ("generator.safetensors", "discriminator.safetensors", "generator_ema.safetensors",
                 "training_state.safetensors", "generator.json", "discriminator.json", "training.json", "run.json"):
        assert (checkpoint / name).is_file(), name
    assert json.loads((checkpoint / "training.json").read_text())["loss"]["type"] == loss
    assert list((run_dir / "logs").glob("events.out.tfevents.*"))
    for name in ("generator.json", "discriminator.json", "training.json", "run.json", "train.log"):
        assert (run_dir / "logs" / name).is_file(), name
    assert (run_dir / "plots" / "losses.png").stat().st_size > 1000
    state = load_state(checkpoint / "training_state.safetensors")
    assert state["images_shown"] == 192 and state["step"] == 12


def test_corrupt_files_are_skipped_and_the_run_completes(image_folder, small16, tmp_path):
    (image_folder / "truncated.jpg").write_bytes((image_folder / "group1" / "image001.jpg").read_bytes()[:150])
    (image_folder / "zero.png").write_bytes(b"")
    (image_folder / "text.png").write_text("hello")
    run_dir = tmp_path / "run"
    assert main(tiny_run(run_dir, image_folder, *small16, "--max_images", "32")) == 0
    log = (run_dir / "logs" / "train.log").read_text()
    assert "3 unreadable image files skipped" in log
    assert "truncated.jpg" in log and "zero.png" in log and "text.png" in log


def test_custom_folders_seed_and_learning_rates(image_folder, small16, tmp_path):
    samples, models, cache = tmp_path / "my_samples", tmp_path / "my_models", tmp_path / "my_cache"
    arguments = tiny_run(tmp_path / "a", image_folder, *small16, "--sample_dir", str(samples), "--model_dir", str(models),
                         "--g_lr", "0.002", "--d_lr", "0.003", "--max_images", "48", "--seed", "5",
                         "--cache_dir", str(cache), "--device", "cpu", "--num_workers", "2")
    assert main(arguments) == 0
    assert list(samples.glob("*.png")) and list_checkpoints(models)
    assert len(list(cache.glob("images-16px-3ch-*.npy"))) == 1
    record = json.loads((tmp_path / "a" / "logs" / "metrics.jsonl").read_text().splitlines()[-1])
    assert record["lr/G"] == 0.002 and record["lr/D"] == 0.003
    same = tiny_run(tmp_path / "b", image_folder, *small16, "--max_images", "48", "--seed", "5")
    other = tiny_run(tmp_path / "c", image_folder, *small16, "--max_images", "48", "--seed", "6")
    assert main(same) == 0 and main(other) == 0
    weights = {run: load_file(list_checkpoints(tmp_path / run / "checkpoints")[-1] / "generator.safetensors")
               for run in ("b", "c")}
    first = json.loads((tmp_path / "b" / "logs" / "run.json").read_text())
    assert first["seed"] == 5
    assert any(not torch.equal(weights["b"][k], weights["c"][k]) for k in weights["b"])


def test_batch_size_per_stage_and_num_epochs(image_folder, small16, tmp_path):
    run_dir = tmp_path / "run"
    arguments = ["train", "--images_dir", str(image_folder), "--run_dir", str(run_dir), *small16,
                 "--batch_size", "8,8,4", "--num_epochs", "0.4", "--feedback_factor", "2", "--checkpoint_factor", "0.5",
                 "--data_percentage", "50"]
    assert main(arguments) == 0
    run = json.loads((run_dir / "logs" / "run.json").read_text())
    assert run["data_percentage"] == 50 and run["stage_epochs"] == 0.4
    state = load_state(list_checkpoints(run_dir / "checkpoints")[-1] / "training_state.safetensors")
    # 20 images (50 % of 40), 8 per stage: 8 + 4 + 4 (fade at batch 8) + (fade, stable) at batch 4 → 24
    assert state["images_shown"] == 24
    # a grid every 10 images, a checkpoint every 10 images: the periodic ones are kept, and the latest
    assert len(list((run_dir / "samples").glob("*.png"))) >= 3
    assert len(list_checkpoints(run_dir / "checkpoints")) >= 3


def test_start_from_pretrained_weights(image_folder, small16, tmp_path):
    first = tmp_path / "first"
    assert main(tiny_run(first, image_folder, *small16, "--max_images", "32")) == 0
    checkpoint = list_checkpoints(first / "checkpoints")[-1]
    second = tmp_path / "second"
    arguments = tiny_run(second, image_folder, *small16, "--max_images", "16", "--g_lr", "0", "--d_lr", "0",
                         "--generator_file", str(checkpoint / "generator.safetensors"),
                         "--discriminator_file", str(checkpoint / "discriminator.safetensors"))
    assert main(arguments) == 0
    before = load_file(checkpoint / "generator.safetensors")
    after = load_file(list_checkpoints(second / "checkpoints")[-1] / "generator.safetensors")
    assert all(torch.equal(before[k], after[k]) for k in before)  # lr 0: the loaded weights are kept as they are


@pytest.mark.parametrize(
    "flags,message",
    [
        (["--batch_size", "-3"], "command line --batch_size: value not allowed"),
        (["--batch_size", "8,8"], "batch_size lists 2 values, but the network has 3 stages"),
        (["--batch_size", "6"], "batch size 6 of the 4×4 stage cannot be split into minibatch_stddev groups of 4"),
        (["--loss_function", "hinj"], "did you mean 'hinge'?"),
        (["--latent_size", "64"], "--latent_size 64 does not match the generator's latent_size 128"),
        (["--arch", "pgan"], "--arch pgan: no such built-in architecture"),
        (["--device", "quantum"], "--device quantum: not a device name"),
        (["--data_percentage", "0"], "--data_percentage 0.0: must be in (0, 100]"),
        (["--num_workers", "0"], "--num_workers 0: must be at least 1"),
        (["--max_images", "-1"], "--max_images -1: must be above 0"),
        (["--feedback_factor", "0"], "--feedback_factor 0.0: must be above 0"),
        (["--checkpoint_factor", "-2"], "--checkpoint_factor -2.0: must be above 0"),
        (["--kimg", "0"], "--kimg 0.0: must be above 0"),
        (["--num_epochs", "-1"], "--num_epochs -1.0: must be above 0"),
        (["--generator_file", "missing.safetensors"], "missing.safetensors: no such weights file or folder"),
        (["--training_config", "nowhere.yaml"], "no such training file"),
        pytest.param(["--gpus", "2"], "--gpus 2: this machine has 0 CUDA device(s)",
                     marks=pytest.mark.skipif(torch.cuda.device_count() > 0, reason="checks the CPU-only refusal")),
    ],
)
def test_bad_flags_are_refused_clearly(flags, message, small16, image_folder, tmp_path, capsys):
    assert main(tiny_run(tmp_path / "run", image_folder, *small16, *flags)) == 1
    error = capsys.readouterr().err
    assert message in error and "Traceback" not in error


def test_empty_image_folder_is_refused_before_training(small16, tmp_path, capsys):
    (tmp_path / "nothing").mkdir()
    assert main(tiny_run(tmp_path / "run", tmp_path / "nothing", *small16)) == 1
    assert "no images found" in capsys.readouterr().err
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_latent_size_that_matches_is_accepted(small16, image_folder, tmp_path):
    assert main(tiny_run(tmp_path / "run", image_folder, *small16, "--latent_size", "128", "--max_images", "16")) == 0


def test_help_documents_every_flag_with_its_default(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for flag in ("--arch", "--generator_config", "--discriminator_config", "--training_config", "--generator_file",
                 "--discriminator_file", "--images_dir", "--run_dir", "--sample_dir", "--model_dir", "--loss_function",
                 "--latent_size", "--batch_size", "--g_lr", "--d_lr", "--num_epochs", "--kimg", "--feedback_factor",
                 "--checkpoint_factor", "--data_percentage", "--num_workers", "--resume", "--seed", "--device",
                 "--max_images", "--gpus", "--sync_bn", "--check_sync", "--allow_partial", "--inception_weights"):
        assert flag in text
    assert "(default: pggan-small)" in text and "(default: 4)" in text


def test_allow_partial_starts_a_larger_model_from_a_smaller_one(small16, image_folder, tmp_path, capsys):
    """A 32×32 pggan-small from a 16×16 run: refused as it is, loaded with --allow_partial."""
    assert main(tiny_run(tmp_path / "small", image_folder, *small16, "--max_images", "16")) == 0
    weights = list_checkpoints(tmp_path / "small" / "checkpoints")[-1] / "generator.safetensors"
    larger = ["train", "--images_dir", str(image_folder), "--run_dir", str(tmp_path / "large"), "--kimg", "0.016",
              "--batch_size", "16", "--max_images", "16", "--generator_file", str(weights)]
    assert main(larger) == 1
    assert "missing tensors (6)" in capsys.readouterr().err
    assert main([*larger, "--allow_partial"]) == 0


def test_fid_in_a_training_file_needs_the_inception_weights_before_training(small16, image_folder, tmp_path, write,
                                                                          capsys, monkeypatch):
    monkeypatch.delenv("ARCHGAN_INCEPTION_WEIGHTS", raising=False)
    training = write("metrics: [fid]\nbatch_size: 8\n", "fid/training.yaml")
    arguments = tiny_run(tmp_path / "run", image_folder, *small16, "--training_config", str(training))
    assert main(arguments) == 1
    assert "weights-inception-2015-12-05-6726825d.pth" in capsys.readouterr().err
    assert main([*arguments, "--inception_weights", str(tmp_path / "missing.pth")]) == 1
    assert "missing.pth does not exist" in capsys.readouterr().err
    assert not (tmp_path / "run" / "checkpoints").exists()
