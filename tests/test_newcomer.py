"""What a new user meets: run folders that work from anywhere and copies that resume in place, generating
at the stage the weights were trained to, and the small things (help, hints, grids, warnings, docs)."""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from archgan import load_generator
from archgan.cli import main
from archgan.spec import load_spec
from archgan.training.checkpoint import load_state
from archgan.training.config import load_training_config
from archgan.training.files import list_checkpoints
from archgan.training.plan import RunPlan

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def small_run(write, image_folder, tmp_path):
    """A run of pggan-small cut at 16×16 stopped after 80 of its 192 images (the 8×8 stage half faded in)."""
    generator = write("network: generator\nbase: pggan-small\nmax_resolution: 16\n", "s/generator.yaml")
    discriminator = write("network: discriminator\nbase: pggan-small\nmax_resolution: 16\n", "s/discriminator.yaml")
    command = ["train", "--generator_config", str(generator), "--discriminator_config", str(discriminator),
               "--images_dir", str(image_folder), "--kimg", "0.064", "--batch_size", "16"]
    run_dir = tmp_path / "runs" / "first"
    assert main([*command, "--run_dir", str(run_dir), "--max_images", "80"]) == 0
    return run_dir, command


def _images_shown(run_dir: Path) -> int:
    return load_state(list_checkpoints(run_dir / "checkpoints")[-1] / "training_state.safetensors")["images_shown"]


def test_run_json_paths_are_relative_and_a_copy_resumes_in_place(small_run, tmp_path, monkeypatch):
    run_dir, _ = small_run
    saved = json.loads((run_dir / "logs" / "run.json").read_text())
    assert (saved["run_dir"], saved["model_dir"], saved["sample_dir"]) == ("..", "../checkpoints", "../samples")
    assert not os.path.isabs(saved["images_dir"])
    original = {path: path.stat().st_mtime_ns for path in run_dir.rglob("*") if path.is_file()}
    copy = tmp_path / "runs" / "copy"
    shutil.copytree(run_dir, copy)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main(["train", "--resume", str(copy)]) == 0  # no --max_images: to the end of the schedule
    assert _images_shown(copy) == 192
    assert {path: path.stat().st_mtime_ns for path in run_dir.rglob("*") if path.is_file()} == original
    assert main(["generate", "--checkpoint", str(copy), "--out", "images", "--num", "2"]) == 0
    assert len(list((elsewhere / "images").glob("*.png"))) == 2


def test_generating_from_a_weights_file_uses_the_depth_it_was_trained_to(small_run, tmp_path, caplog):
    run_dir, _ = small_run  # stopped in the middle of the 8×8 fade-in
    weights = list_checkpoints(run_dir / "checkpoints")[-1] / "generator_ema.safetensors"
    generator = load_generator(weights=weights)
    assert (generator.default_depth, generator.default_alpha, generator.trained_depth) == (2, 0.5, 2)
    assert generator(torch.randn(2, 128)).shape == (2, 3, 8, 8)
    assert main(["generate", "--generator_file", str(weights), "--out", str(tmp_path / "a"), "--num", "1"]) == 0
    with Image.open(next((tmp_path / "a").glob("*.png"))) as image:
        assert image.size == (8, 8)
    caplog.clear()
    assert main(["generate", "--generator_file", str(weights), "--out", str(tmp_path / "b"), "--num", "1",
                 "--resolution", "16"]) == 0
    assert "these weights were trained up to 8×8 (depth 2); the 16×16 stage (depth 3) has not been trained" in caplog.text
    load_generator(weights=weights, depth=3)
    assert "16×16 stage (depth 3) has not been trained" in caplog.text


def test_sample_grids_are_at_least_256_pixels_wide(small_run):
    run_dir, _ = small_run
    grids = sorted((run_dir / "samples").glob("4x4-*.png"))
    with Image.open(grids[0]) as grid:
        assert grid.size[0] >= 256  # 8 columns of 4×4 samples, each enlarged 8× (nearest)
        pixels = np.asarray(grid.convert("RGB"))
    assert (pixels[2:10] == pixels[2]).all() and (pixels[2:10, 2:10] == pixels[2, 2]).all()  # 8×8 per pixel


def test_the_run_folder_is_printed_at_the_start(write, image_folder, tmp_path, capsys):
    assert main(["train", "--images_dir", str(image_folder), "--run_dir", str(tmp_path / "run"), "--kimg", "0.016",
                 "--batch_size", "8", "--max_images", "8"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"run folder: {tmp_path / 'run'}") and out.count("run folder:") == 1


def test_a_folder_of_few_images_is_warned_about(write, tmp_path, caplog):
    folder = tmp_path / "one"
    folder.mkdir()
    Image.fromarray(np.full((32, 32, 3), 200, dtype=np.uint8)).save(folder / "only.png")
    assert main(["train", "--images_dir", str(folder), "--run_dir", str(tmp_path / "run"), "--kimg", "0.016",
                 "--batch_size", "8", "--max_images", "8"]) == 0
    assert "only 1 training images, fewer than 4 batches of 8" in caplog.text


def test_help_states_each_default_once_and_type_errors_are_plain(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    assert "(default: None)" not in text and "(default: False)" not in text
    from archgan.cli.common import HelpFormatter
    from archgan.cli.train import add_arguments

    parser = argparse.ArgumentParser(formatter_class=HelpFormatter)
    add_arguments(parser)
    helps = [HelpFormatter("train")._get_help_string(action) or "" for action in parser._actions]
    assert all(text.count("(default:") <= 1 for text in helps)
    assert "(default: ~/.cache/archgan/datasets)" in " ".join(text.split())
    with pytest.raises(SystemExit):
        main(["train", "--batch_size", "abc"])
    error = capsys.readouterr().err
    assert "argument --batch_size: 'abc' is not a batch size" in error and "_per_stage" not in error


def test_hints_name_the_archgan_command(write, tmp_path, capsys):
    assert main(["new", str(tmp_path / "mine"), "--from", "pggan-small"]) == 0
    assert "train it: archgan train --generator_config" in capsys.readouterr().out
    sources = "\n".join(path.read_text() for path in (REPO / "archgan").rglob("*.py"))
    assert "python train.py --resume" not in sources and "train it: python train.py" not in sources


def test_docs_are_written_to_the_checkout_or_where_out_says(tmp_path, capsys):
    assert main(["docs", "--out", str(tmp_path / "layers.md")]) == 0
    assert (tmp_path / "layers.md").read_text() == (REPO / "docs" / "layers.md").read_text()
    code = "import archgan.resources as r; r.checkout_docs_dir = lambda: None\n" \
           "from archgan.cli import main; raise SystemExit(main(['docs']))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 1 and "give the file to write, e.g. archgan docs --out layers.md" in result.stderr


def test_the_progress_bar_shows_one_images_per_second_figure():
    """tqdm shows the count, the rate and the time left; the postfix adds the stage and the losses only."""
    from archgan.training.hooks import ProgressBar, StepEvent

    class Bar:
        def update(self, count: int) -> None:
            self.count = count

        def set_postfix_str(self, text: str) -> None:
            self.text = text

    plan = RunPlan.build(load_spec("pggan-small", "generator"), load_spec("pggan-small", "discriminator"),
                         load_training_config("pggan-small"))
    progress = ProgressBar()
    progress.bar = Bar()
    logged = {"loss/D": 1.0, "loss/G": 2.0, "speed/images_per_s": 99.0}
    progress.after_step(SimpleNamespace(plan=plan), StepEvent(plan.position(0), 0, 16, logged))
    assert progress.bar.text == "4×4 stable α=1.00 D=1.000 G=2.000" and progress.bar.count == 16


def test_weights_written_by_a_run_keep_the_generator_defaults_of_the_run(small_run):
    run_dir, _ = small_run
    checkpoint = list_checkpoints(run_dir / "checkpoints")[-1]
    from safetensors import safe_open

    with safe_open(str(checkpoint / "generator.safetensors"), framework="pt") as handle:
        metadata = handle.metadata()
    assert (metadata["archgan_depth"], metadata["archgan_alpha"]) == ("2", "0.5")
    assert load_file(checkpoint / "generator.safetensors")
