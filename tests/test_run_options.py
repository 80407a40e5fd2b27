"""Run options of `archgan train`: fine-tuning from a later stage (--start_stage), any training option from
the command line (--set), the resolved plan without training (--dry-run), and gradient accumulation."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from archgan.cli import main
from archgan.errors import ArchganError
from archgan.spec import load_spec_text
from archgan.training.config import load_training_config
from archgan.training.files import list_checkpoints
from archgan.training.plan import RunPlan, split_rows
from archgan.training.run import RunSettings
from archgan.training.trainer import Trainer


def small(max_resolution: int = 8):
    """pggan-small's generator and discriminator up to `max_resolution` (minibatch stddev in groups of 4)."""
    return [load_spec_text(json.dumps({"network": role, "base": "pggan-small", "max_resolution": max_resolution}),
                           role=role) for role in ("generator", "discriminator")]


def settings(image_folder: Path, tmp_path: Path, training: dict, **more) -> RunSettings:
    generator, discriminator = small()
    return RunSettings(generator=generator, discriminator=discriminator,
                       training=load_training_config(None, training), images_dir=str(image_folder),
                       run_dir=str(tmp_path / "run"), sample_dir=str(tmp_path / "run" / "samples"),
                       model_dir=str(tmp_path / "run" / "checkpoints"), num_workers=1, **more)


# ------------------------------------------------------------------------------ accumulation

def test_split_rows_keeps_minibatch_stddev_groups_whole():
    """A group's members are rows m, m+M, ... (M = count / group): every part holds whole groups, in the
    order the layer reads them, and the parts together are the batch."""
    parts = [split_rows(16, 4, 2, part) for part in range(2)]
    assert parts == [[0, 1, 4, 5, 8, 9, 12, 13], [2, 3, 6, 7, 10, 11, 14, 15]]
    for rows in parts:  # read as the layer does, (group, members): each column is one whole group
        columns = torch.tensor(rows).view(4, -1).T.tolist()
        assert all(len({row % 4 for row in column}) == 1 for column in columns)
    assert split_rows(16, 1, 4, 3) == [12, 13, 14, 15]


@pytest.mark.parametrize("loss", [{"type": "wgan-gp"}, {"type": "logistic", "r1_gamma": 1.0, "r1_interval": 2}])
def test_accumulated_micro_batches_train_as_the_whole_batch(image_folder, tmp_path, loss):
    """accumulate 2 and 4 (micro-batches of 8 and 4 images, minibatch-stddev groups of 4 kept whole) give the
    losses, gradients and weights of the unsplit batch of 16, step after step: the penalty's mixing factors
    drawn as the whole batch draws them, each micro-batch's gradient weighted by its share; the lazy R1
    phase (every 2nd step) split alike."""
    training = {"loss": loss, "batch_size": 16, "mirror": True}
    trainers = [Trainer(settings(image_folder, tmp_path / str(parts), training | {"accumulate": parts}, seed=3))
                for parts in (1, 2, 4)]
    for _ in range(3):
        whole, *split = [trainer.train_step() for trainer in trainers]
        for terms in split:
            assert terms.keys() == whole.keys()
            for name in whole:
                assert torch.allclose(terms[name], whole[name], rtol=1e-4, atol=1e-5), name
        for trainer in trainers[1:]:  # the last gradients (D's from its step, G's from its own) and the weights
            for network in ("generator", "discriminator"):
                pairs = zip(getattr(trainers[0].state, network).parameters(), getattr(trainer.state, network).parameters())
                for whole_parameter, parameter in pairs:
                    gradient, expected = parameter.grad, whole_parameter.grad
                    assert (gradient is None) == (expected is None)
                    if expected is not None:
                        assert (gradient - expected).abs().max() <= 1e-3 * expected.abs().max() + 1e-8
                    # Adam's first steps move each weight by about lr = 0.001 whatever the gradient's size
                    assert torch.allclose(parameter, whole_parameter, atol=2e-4)


def test_accumulation_that_would_split_a_group_or_couple_the_batch_is_refused():
    generator, discriminator = small()
    with pytest.raises(ArchganError, match=r"accumulate 8 of the 4×4 stage cannot split its batch of 16 into equal "
                       r"micro-batches of whole minibatch_stddev groups of 4[\s\S]*use a divisor of 4"):
        RunPlan.build(generator, discriminator, load_training_config(None, {"batch_size": 16, "accumulate": 8}))
    with pytest.raises(ArchganError, match="relativistic-hinge loss compares each sample with the mean"):
        RunPlan.build(generator, discriminator,
                      load_training_config(None, {"batch_size": 16, "accumulate": 2, "loss": "relativistic-hinge"}))
    plan = RunPlan.build(generator, discriminator, load_training_config(None, {"batch_size": 16, "accumulate": [1, 4]}))
    assert [stage.accumulate for stage in plan.stages] == [1, 4]
    whole = RunPlan.build(generator, discriminator, load_training_config(None, {"batch_size": 16}))
    # micro-batches of 4 keep a quarter of the activations of the batch of 16
    assert plan.memory.stages[1].activation_bytes * 4 == whole.memory.stages[1].activation_bytes
    assert plan.memory.stages[0] == whole.memory.stages[0]


# ------------------------------------------------------------------------------ --set and --dry-run

def test_set_overrides_any_training_option_checked_by_the_schema():
    config = load_training_config("pggan-small", {"loss.r1_gamma": 5, "fade_kimg": [0, 1, 2, 3], "ema_beta": 0})
    assert config.loss == {"type": "logistic", "r1_gamma": 5, "r1_interval": 4}  # the file's other options kept
    assert (config.fade_kimg, config.ema_beta) == ([0, 1, 2, 3], 0)
    # a loss given by its name is expanded to its options before one is set
    assert load_training_config(None, {"loss.gp_weight": 5}).loss["gp_weight"] == 5
    flag = {"loss": "--set loss.gp_weight=5"}
    with pytest.raises(ArchganError, match=r"command line --set loss.gp_weight=5: unknown key 'gp_weight'[\s\S]*"
                       r"allowed: r1_gamma, r1_interval"):
        load_training_config("pggan-small", {"loss.gp_weight": 5}, flag)
    with pytest.raises(ArchganError, match=r"command line --set batch_sise=8: unknown key 'batch_sise'[\s\S]*"
                       r"did you mean 'batch_size'"):
        load_training_config(None, {"batch_sise": 8}, {"batch_sise": "--set batch_sise=8"})
    with pytest.raises(ArchganError, match="batch_size is 16, not a mapping of options"):
        load_training_config(None, {"batch_size.x": 8})


def test_set_and_dry_run_on_the_command_line(capsys, tmp_path, image_folder):
    assert main(["train", "--dry-run", "--set", "loss.r1_gamma=5", "--set", "fade_kimg=[0,1,2,3]", "--set",
                 "g_lr=1e-3", "--set", "batch_size=16", "--set", "accumulate=2", "--run_dir", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    assert '  loss: {"type": "logistic", "r1_gamma": 5, "r1_interval": 4}' in out and "  g_lr: 0.001" in out
    assert "generator: pggan-small" in out and "parameters" in out
    table = out[out.index("period"):].splitlines()
    assert table[0].split() == ["period", "images", "steps", "batch", "accumulate", "G", "lr", "D", "lr", "memory"]
    assert table[1].split()[-1] == "MiB"  # the memory estimate of the stage (tests/test_memory.py measures it)
    assert table[1].split()[:5] == ["4×4", "stable", "8,000", "500", "16"] and table[1].split()[5] == "2"
    assert table[2].split()[:4] == ["8×8", "fade", "1,000", "63"]  # 1,000 images in batches of 16: 63 steps
    assert table[-1].split()[:3] == ["total", "62,000", "3,875"]
    assert not (tmp_path / "run").exists()
    assert main(["train", "--dry-run", "--num_epochs", "5", "--images_dir", str(image_folder)]) == 0
    out = capsys.readouterr().out  # epochs are counted in the folder's image files, none decoded
    assert "dataset: 40 image files (--num_epochs 5 per stage)" in out
    assert out.splitlines()[-1].split()[:2] == ["total", "800"]  # 4 stages of 5 epochs of 40 images
    assert main(["train", "--dry-run", "--set", "g_lr=fast"]) == 1
    assert "command line --set g_lr=fast" in capsys.readouterr().err
    for wrong, why in (("g_lr", "'g_lr' is not KEY=VALUE"), ("g_lr=NaN", "numbers must be finite"),
                       ("fade_kimg=[0, .inf]", "numbers must be finite")):
        with pytest.raises(SystemExit) as exit:
            main(["train", "--dry-run", "--set", wrong])
        assert exit.value.code == 2 and why in capsys.readouterr().err


def test_steps_per_period_count_what_the_trainer_shows(image_folder, tmp_path):
    """The dry run's steps are the steps training takes: a step belongs to the period its first image
    falls in, and shows batch × n_critic images."""
    run = settings(image_folder, tmp_path, {"batch_size": [8, 12], "n_critic": 2, "loss": "hinge"}, stage_kimg=0.1)
    trainer = Trainer(run)
    periods = []
    while trainer.state.images_shown < trainer.plan.total_images:
        periods.append(trainer.plan.position(trainer.state.images_shown).period.index)
        trainer.train_step()
    assert trainer.plan.steps() == [periods.count(index) for index in range(len(trainer.plan.periods))] == [7, 2, 2]


# ------------------------------------------------------------------------------ --start_stage

def test_fine_tuning_starts_at_the_given_stage_with_the_loaded_weights(image_folder, tmp_path, write, capsys):
    generator = write("network: generator\nbase: pggan-small\nmax_resolution: 16\n", "s/generator.yaml")
    discriminator = write("network: discriminator\nbase: pggan-small\nmax_resolution: 16\n", "s/discriminator.yaml")
    files = ["--generator_config", str(generator), "--discriminator_config", str(discriminator),
             "--images_dir", str(image_folder), "--kimg", "0.032", "--batch_size", "16"]
    assert main(["train", *files, "--run_dir", str(tmp_path / "trained")]) == 0
    trained = list_checkpoints(tmp_path / "trained" / "checkpoints")[-1]
    capsys.readouterr()
    fine_tune = [*files, "--generator_file", str(trained / "generator.safetensors"),
                 "--discriminator_file", str(trained / "discriminator.safetensors"), "--start_stage", "16x16"]
    assert main(["train", *fine_tune, "--run_dir", str(tmp_path / "tuned"), "--max_images", "16"]) == 0
    out = capsys.readouterr().out  # what the user reads
    assert f"generator: 18 tensors loaded from {trained / 'generator.safetensors'} (stages 4×4, 8×8, 16×16)" in out
    assert f"discriminator: 20 tensors loaded from {trained / 'discriminator.safetensors'}" in out
    assert "16×16 stable from 0 images" in out and "4×4 stable" not in out
    grids = sorted(path.name for path in (tmp_path / "tuned" / "samples").glob("*.png"))
    assert grids and all(name.startswith("16x16-") for name in grids)
    # the weights it started from are the trained ones: one step of a tiny learning rate barely moves them
    assert main(["train", *fine_tune, "--run_dir", str(tmp_path / "tiny"), "--max_images", "16",
                 "--set", "g_lr=1e-12", "--set", "d_lr=1e-12"]) == 0
    start = load_file(trained / "generator.safetensors")
    after = load_file(list_checkpoints(tmp_path / "tiny" / "checkpoints")[-1] / "generator.safetensors")
    assert all(torch.allclose(after[name], start[name], atol=1e-6) for name in start)
    # the schedule lists the stage it starts at, stable, then the stages above it
    assert main(["train", *fine_tune[:-2], "--start_stage", "8", "--dry-run"]) == 0
    periods = [line.split()[:2] for line in capsys.readouterr().out.splitlines()[-4:-1]]
    assert periods == [["8×8", "stable"], ["16×16", "fade"], ["16×16", "stable"]]


def test_a_start_stage_without_weights_is_warned_about_and_a_wrong_one_refused(image_folder, tmp_path, capsys,
                                                                                caplog):
    run = settings(image_folder, tmp_path, {"batch_size": 8}, start_resolution=8, stage_kimg=0.016)
    trainer = Trainer(run)
    assert [(p.stage, p.fading) for p in trainer.plan.periods] == [(1, False)]
    assert "the stages below 8×8 are not trained and no --generator_file gives them" in caplog.text
    assert main(["train", "--start_stage", "48", "--dry-run"]) == 1
    assert "start stage 48: the networks have no such stage; give one of 4, 8, 16, 32" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit:
        main(["train", "--start_stage", "4x8", "--dry-run"])
    assert exit.value.code == 2 and "'4x8' is not a stage: give its resolution" in capsys.readouterr().err
