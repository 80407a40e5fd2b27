"""The memory estimate of `archgan validate` and `show` (archgan/training/memory.py): against the peak
measured on the CPU, and the refusal of files that cannot be allocated."""
from __future__ import annotations

import torch

from archgan.cli import main
from archgan.spec import load_spec
from archgan.training.config import load_training_config
from archgan.training.memory import MEMORY_LIMIT, estimate_memory
from archgan.training.run import RunSettings
from archgan.training.trainer import Trainer

WITHIN = 2.5
"""The estimate is an upper bound, at most this many times the measured peak."""


def _measured_peak(trainer: Trainer, stage: int) -> int:
    """Bytes of the weights plus the peak of what the first step at `stage` allocates (its optimizer
    state included), from torch.profiler's CPU memory records in time order."""
    state = trainer.state
    weights = 4 * sum(p.numel() for net in (state.generator, state.discriminator, state.generator_ema)
                      for p in net.parameters())
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], profile_memory=True) as profile:
        trainer.train_step(trainer.plan.position_in(stage, 0.5 if stage else 1.0))
    level = peak = 0
    for event in sorted(profile.events(), key=lambda event: event.time_range.start):
        level += event.self_cpu_memory_usage
        peak = max(peak, level)
    return weights + peak


def test_estimate_bounds_the_measured_peak_within_a_factor(image_folder, tmp_path):
    generator, discriminator = load_spec("pggan-small", "generator"), load_spec("pggan-small", "discriminator")
    training = load_training_config(None, {"loss": "wgan-gp", "batch_size": 4})
    estimate = estimate_memory(generator, discriminator, training)
    ratios = {}
    for stage in (0, 3):
        settings = RunSettings(generator=generator, discriminator=discriminator, training=training,
                               images_dir=str(image_folder), run_dir=str(tmp_path / "run"),
                               sample_dir=str(tmp_path / "samples"), model_dir=str(tmp_path / "models"), num_workers=1)
        measured = _measured_peak(Trainer(settings), stage)
        ratios[stage] = estimate.stages[stage].total_bytes / measured
    assert all(1 <= ratio <= WITHIN for ratio in ratios.values()), ratios


def test_penalties_and_batches_raise_the_estimate():
    generator, discriminator = load_spec("pggan-small", "generator"), load_spec("pggan-small", "discriminator")
    hinge, penalty = (estimate_memory(generator, discriminator, load_training_config(None, {"loss": loss,
                                                                                            "batch_size": 8}))
                      for loss in ("hinge", "wgan-gp"))
    assert hinge.fixed_bytes == penalty.fixed_bytes == 4 * (2 * 844_524 + 846_241)  # `archgan show`'s counts
    assert all(h.activation_bytes < p.activation_bytes for h, p in zip(hinge.stages, penalty.stages))
    doubled = estimate_memory(generator, discriminator, load_training_config(None, {"loss": "hinge", "batch_size": 16}))
    assert [s.activation_bytes for s in doubled.stages] == [2 * s.activation_bytes for s in hinge.stages]


def test_validate_refuses_what_cannot_be_allocated(write, capsys):
    """Within every bound of the schema (widths, batch sizes), a run can still need more than any device."""
    generator = write("""
        network: generator
        name: huge
        latent_size: 8
        image_channels: 3
        stages:
          - resolution: 4
            layers:
              - {type: dense, channels: 16384, reshape: [4, 4]}
            to_rgb: [{type: to_rgb}]
        """)
    discriminator = write("""
        network: discriminator
        name: small
        image_channels: 3
        stages:
          - resolution: 4
            from_rgb: [{type: from_rgb, channels: 8}]
            layers:
              - {type: dense, channels: 1}
        """, "discriminator.yaml")
    training = write("batch_size: 1048576\n", "training.yaml")
    assert main(["validate", str(generator), str(discriminator), str(training)]) == 1
    error = capsys.readouterr().err
    assert "training the 4×4 stage at batch 1048576" in error and "more than the 1.0 TiB that any one device holds" in error
    assert estimate_memory(load_spec(str(generator)), load_spec(str(discriminator)),
                           load_training_config(str(training))).peak_bytes > MEMORY_LIMIT


def test_validate_and_show_print_the_estimate(capsys):
    assert main(["validate", "pggan"]) == 0
    assert "memory about 16.8 GiB at most (1024×1024, batch 4" in capsys.readouterr().out
    assert main(["show", "pggan-small"]) == 0
    shown = capsys.readouterr().out
    table = shown[shown.index("training memory, estimated"):].splitlines()
    assert [line.split()[0] for line in table[2:]] == ["4×4", "8×8", "16×16", "32×32"]
    assert table[-1].split()[1] == "8" and table[-1].endswith("85.5 MiB")
    assert "values kept for the backward pass per image while this stage fades in" in shown
