"""Training files, command-line overrides and the progressive schedule."""
from __future__ import annotations

import pytest

from archgan.spec import SpecError, load_spec, load_spec_text
from archgan.training.config import load_training_config, training_config_from_json
from archgan.training.plan import RunPlan


def small(max_resolution: int):
    """pggan-small's generator and discriminator up to `max_resolution`."""
    return [load_spec_text(f'{{"network": "{role}", "base": "pggan-small", "max_resolution": {max_resolution}}}',
                           role=role) for role in ("generator", "discriminator")]


def test_the_official_schedule():
    """600k stable at 4×4, then 600k fade + 600k stable per stage, the 1024² stage until 12M images."""
    plan = RunPlan.build(load_spec("pggan", "generator"), load_spec("pggan", "discriminator"),
                         load_training_config("pggan"))
    assert plan.total_images == 12_000_000
    starts = {(p.stage, p.fading): p.start for p in plan.periods}
    assert starts[(1, True)] == 600_000 and starts[(1, False)] == 1_200_000
    assert starts[(8, True)] == 9_000_000 and starts[(8, False)] == 9_600_000
    assert [stage.batch_size for stage in plan.stages] == [128, 128, 128, 64, 32, 16, 8, 4, 4]
    assert plan.stages[-1].g_lr == 0.0015 and plan.stages[0].d_lr == 0.001
    assert plan.batch_group == 4 and plan.resolutions == [4, 8, 16, 32, 64, 128, 256, 512, 1024]


def test_alpha_ramps_during_a_fade_and_is_one_when_stable():
    plan = RunPlan.build(*small(16), load_training_config(None, {"fade_kimg": 1, "stable_kimg": 2}))
    assert [(p.stage, p.fading, p.start, p.images) for p in plan.periods] == [
        (0, False, 0, 2000), (1, True, 2000, 1000), (1, False, 3000, 2000), (2, True, 5000, 1000), (2, False, 6000, 2000)
    ]
    assert plan.position(0).alpha == 1.0 and plan.position(0).depth == 1
    assert plan.position(2250).alpha == pytest.approx(0.25) and plan.position(2250).depth == 2
    assert plan.position(3000).alpha == 1.0 and not plan.position(3000).period.fading
    assert plan.position(10**9).period.index == 4
    assert plan.describe(plan.position(5500)) == "16×16 fade"


def test_images_per_stage_override():
    plan = RunPlan.build(*small(8), load_training_config(None), images_per_stage=1000)
    assert [(p.fading, p.images) for p in plan.periods] == [(False, 1000), (True, 500), (False, 500)]


def test_per_stage_lists_must_match_the_stages(write):
    path = write("batch_size: [8, 8, 8]\n", "training.yaml")
    config = load_training_config(path)
    with pytest.raises(SpecError) as caught:
        RunPlan.build(*small(8), config)
    message = str(caught.value)
    assert f"{path}:1: at $.batch_size: batch_size lists 3 values, but the network has 2 stages" in message


def test_training_file_errors_are_friendly(write):
    path = write("loss: {type: wgan-gp, gp_wieght: 5}\nbatch_sise: 8\nn_critic: 0\n", "training.yaml")
    with pytest.raises(SpecError) as caught:
        load_training_config(path)
    message = str(caught.value)
    assert "unknown key 'batch_sise'" in message and "did you mean 'batch_size'?" in message
    assert f"{path}:3: at $.n_critic: value out of range" in message
    assert "gp_wieght" in message


def test_command_line_overrides_are_checked_and_name_the_flag():
    with pytest.raises(SpecError) as caught:
        load_training_config(None, {"loss": "hinj"}, flags={"loss": "--loss_function"})
    assert "command line --loss_function: value not allowed" in str(caught.value)
    assert "did you mean 'hinge'?" in str(caught.value)
    with pytest.raises(SpecError, match="command line --batch_size: value not allowed"):
        load_training_config(None, {"batch_size": -3})
    config = load_training_config("pggan-small", {"batch_size": [16, 16, 8, 8], "g_lr": 0.002})
    assert config.batch_size == [16, 16, 8, 8] and config.g_lr == 0.002 and config.loss["type"] == "logistic"


def test_config_json_round_trip():
    config = load_training_config("pggan")
    assert training_config_from_json(config.to_json()) == config
