"""The training core as parts: a torch-free spec and run plan, the StagePlan, the fade module, parameter
counts from the registry's rules, phases and the public step, hooks, and checkpoints of earlier versions."""
from __future__ import annotations

import json
import logging
import math
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import load_file

from archgan.cli import main
from archgan.layers import BuildContext, layer_type, layer_types
from archgan.losses import normalize_loss
from archgan.networks import build_network
from archgan.networks.build import build_layer
from archgan.resources import builtin_architectures
from archgan.spec import load_spec, load_spec_text
from archgan.spec.shapes import layer_parameters, trace
from archgan.spec.templates import expand_layers
from archgan.spec.stages import every_plan, stage_plan, stage_shapes
from archgan.training.config import load_training_config
from archgan.training.distributed import ActiveParts
from archgan.training.hooks import Hook, RunOutputs
from archgan.training.phases import build_phases, regularizer_step
from archgan.training.plan import RunPlan
from archgan.training.run import RunSettings
from archgan.training.trainer import Trainer

REPO = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"


def small(max_resolution: int = 16, **keys):
    """pggan-small's generator and discriminator up to `max_resolution` (with extra top-level keys)."""
    return [load_spec_text(json.dumps({"network": role, "base": "pggan-small", "max_resolution": max_resolution,
                                       **keys.get(role, {})}), role=role)
            for role in ("generator", "discriminator")]


# ------------------------------------------------------------------------------- torch-free spec

def test_spec_validate_and_show_never_import_torch():
    """Importing archgan.spec, validating every built-in (files and run plan) and `show` without --plot
    load neither torch nor tensorboard (nor numpy)."""
    code = f"""
import sys
import archgan.spec
from archgan.cli import main
from archgan.spec.summary import summarize
names = {builtin_architectures()!r}
assert main(["validate", *names]) == 0
for name in names:
    for role in ("generator", "discriminator"):
        summarize(archgan.spec.load_spec(name, role))
assert main(["show", "pggan"]) == 0
assert main(["validate", "{REPO / 'docs' / 'examples' / 'generator.json'}"]) == 0
loaded = sorted(name for name in ("torch", "tensorboard", "numpy", "torchvision") if name in sys.modules)
print("LOADED", loaded)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "LOADED []" in result.stdout


def test_the_public_names_of_archgan_load_on_first_use():
    import archgan

    assert archgan.load_spec is load_spec
    assert archgan.build_network is build_network
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        archgan.nothing  # noqa: B018


def _module_parameters(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("name", builtin_architectures())
def test_every_layers_parameter_rule_matches_its_module(name):
    """`archgan show` counts parameters from the registry without building anything; each layer's count
    equals its built module's, in every built-in network."""
    for role in ("generator", "discriminator"):
        spec = load_spec(name, role)
        network = build_network(spec)
        context = spec.context
        for index, (stage, shapes) in enumerate(zip(spec.stages, stage_shapes(spec))):
            head_input = shapes.layers_out if role == "generator" else (spec.image_channels, stage.resolution,
                                                                         stage.resolution)
            for layers, modules, shape in ((stage.layers, network.stage(index), shapes.layers_in),
                                           (stage.head_layers, network.head(index), head_input)):
                for (layer, received, _), module in zip(trace(layers, shape, context), modules, strict=True):
                    assert layer_parameters(layer, received, context) == _module_parameters(module), (name, layer)


@pytest.mark.parametrize("type_name", sorted(layer_types()))
@pytest.mark.parametrize("variant", ["defaults", "all_on"])
def test_every_layer_types_example_counts_its_parameters(type_name, variant):
    """Every registered type, in its docs example and with every boolean option switched on."""
    kind = layer_type(type_name)
    options = {"type": type_name, **kind.defaults(), **kind.example}
    if variant == "all_on":
        options |= {k: True for k, o in kind.options.items() if o.schema.get("type") == "boolean"}
    shape = {"from_rgb": (3, 8, 8), "projection": (16,), "auxiliary_classifier": (16,), "label_select": (5,)}.get(
        type_name, (16, 8, 8))
    context = BuildContext(image_channels=3, classes=5, style_size=7)  # for the layers that read a label or a style
    (layer,) = expand_layers([options])
    module = build_layer(layer, shape, context)
    assert layer_parameters(layer, shape, context) == _module_parameters(module)


# ------------------------------------------------------------------------------------ StagePlan

def test_stage_plan_says_what_runs_at_each_depth():
    generator, discriminator = small(32)
    plan = stage_plan(generator, 3, fading=True)
    assert (plan.stages, plan.head, plan.old_head, plan.resolution) == ((0, 1, 2), 2, 1, 16)
    plan = stage_plan(discriminator, 3, fading=True)  # D lists 32, 16, 8, 4: depth 3 starts at 16
    assert (plan.stages, plan.head, plan.old_head, plan.resolution) == ((1, 2, 3), 1, 2, 16)
    assert stage_plan(generator, 1, fading=True).old_head is None  # nothing to fade from
    assert [(p.depth, p.fading) for p in every_plan(generator)] == [
        (1, False), (2, True), (2, False), (3, True), (3, False), (4, True), (4, False)]
    with pytest.raises(ValueError, match="depth must be between 1 and 4"):
        stage_plan(generator, 5, fading=False)


def test_distributed_active_parts_are_the_stage_plan():
    generator, discriminator = (build_network(spec) for spec in small(16))
    for network in (generator, discriminator):
        for plan in every_plan(network.spec):
            parts = ActiveParts(network, plan.depth, plan.fading)
            expected = [network.stage(i) for i in plan.stages] + [network.head(i) for i in plan.heads]
            assert [id(m) for m in parts.parts] == [id(m) for m in expected]


# ------------------------------------------------------------------------------------- fade-in

def test_the_old_path_resamples_as_the_spec_says():
    """fade_resample: bilinear makes the generator's old path a bilinear ×2 and the discriminator's old
    input an antialiased bilinear ×½; the real images fade with the generator's upsampling."""
    from archgan.data.stream import RealImages

    generator_spec, discriminator_spec = small(8, generator={"fade_resample": "bilinear"},
                                               discriminator={"fade_resample": "bilinear"})
    assert json.loads(generator_spec.to_json())["fade_resample"] == "bilinear"
    generator, discriminator = build_network(generator_spec).eval(), build_network(discriminator_spec).eval()
    z = torch.randn(4, 128)
    with torch.no_grad():
        old = F.interpolate(generator.head(0)(generator.stage(0)(z.view(4, -1, 1, 1))), scale_factor=2,
                            mode="bilinear", align_corners=False)
        assert torch.allclose(generator(z, 2, 0.0), old, atol=1e-6)
        images = torch.randn(4, 3, 8, 8)
        small_images = F.interpolate(images, size=(4, 4), mode="bilinear", align_corners=False, antialias=True)
        expected = discriminator.stage(1)(discriminator.head(1)(small_images)).view(-1)
        assert torch.allclose(discriminator(images, 2, 0.0), expected, atol=1e-6)
        assert not torch.allclose(small_images, F.avg_pool2d(images, 2), atol=1e-3)

    pixels = np.random.default_rng(0).integers(0, 256, (4, 3, 8, 8), dtype=np.uint8)
    stream = RealImages(pixels, torch.device("cpu"), seed=0, mirror=False, fade_resample="bilinear")
    batch, _ = stream.next(4, 8, alpha=0.0)
    x = torch.from_numpy(pixels[stream.order[:4].numpy()]).float() * (2 / 255) - 1
    coarse = F.interpolate(F.avg_pool2d(x, 2), scale_factor=2, mode="bilinear", align_corners=False)
    assert torch.allclose(batch, coarse, atol=1e-6)


def test_fade_resample_is_checked_against_the_role(write, capsys):
    path = write("network: generator\nbase: pggan-small\nfade_resample: average\n")
    assert main(["validate", str(path)]) == 1
    error = capsys.readouterr().err
    assert f"{path}:3: at $.fade_resample: value not allowed" in error and "allowed: nearest, bilinear" in error


def test_named_inputs_a_network_does_not_declare_are_refused():
    generator, discriminator = (build_network(spec) for spec in small(8))
    with pytest.raises(ValueError, match=r"this generator takes no named inputs \(got label\)"):
        generator(torch.randn(2, 128), label=torch.zeros(2))
    with pytest.raises(ValueError, match=r"this discriminator takes no named inputs \(got label, styles\)"):
        discriminator(torch.randn(2, 3, 8, 8), styles=None, label=None)


# ------------------------------------------------------------------------------------- RunPlan

BAD_TRAINING_FILES = [
    ("fade_kimg: 0\nstable_kimg: 0\n", "training.yaml:2: at $.stable_kimg: the schedule shows no images"),
    ("batch_size: [8, 8]\n", "training.yaml:1: at $.batch_size: batch_size lists 2 values, but the network has 3 stages"),
    ("batch_size: 6\n", "training.yaml:1: at $.batch_size: batch size 6 of the 4×4 stage cannot be split into "
                        "minibatch_stddev groups of 4"),
    ("g_lr: [0.001, 0.001]\nbatch_size: 8\n", "g_lr lists 2 values, but the network has 3 stages"),
]


@pytest.mark.parametrize("text,message", BAD_TRAINING_FILES)
def test_validate_and_train_refuse_a_bad_training_file_alike(text, message, write, image_folder, tmp_path, capsys):
    """The same RunPlan checks run in `archgan validate G D T` and in training, before any image is decoded."""
    generator = write("network: generator\nbase: pggan-small\nmax_resolution: 16\n", "g.yaml")
    discriminator = write("network: discriminator\nbase: pggan-small\nmax_resolution: 16\n", "d.yaml")
    training = write(text, "training.yaml")
    files = [str(generator), str(discriminator), str(training)]
    assert main(["validate", *files]) == 1
    from_validate = capsys.readouterr().err
    assert main(["train", "--generator_config", files[0], "--discriminator_config", files[1], "--training_config",
                 files[2], "--images_dir", str(image_folder), "--run_dir", str(tmp_path / "run")]) == 1
    from_train = capsys.readouterr()
    assert message in from_validate and message in from_train.err
    assert from_validate.strip() == from_train.err.strip()
    assert "Traceback" not in from_validate + from_train.err
    assert "decoding" not in from_train.out + from_train.err and not (tmp_path / "cache").exists()


def test_validate_refuses_networks_that_do_not_fit_together(write, capsys):
    generator = write("network: generator\nbase: pggan-small\nmax_resolution: 16\n", "g.yaml")
    discriminator = write("network: discriminator\nbase: pggan-small\n", "d.yaml")
    assert main(["validate", str(generator), str(discriminator)]) == 1
    assert "the generator's stages (4, 8, 16) and the discriminator's (4, 8, 16, 32) must have the same " \
           "resolutions" in capsys.readouterr().err
    grey = write("network: discriminator\nbase: pggan-small\nmax_resolution: 16\nimage_channels: 1\n", "grey.yaml")
    assert main(["validate", str(generator), str(grey)]) == 1
    assert "the generator makes 3-channel images but the discriminator reads 1-channel ones" in capsys.readouterr().err
    assert main(["validate", "pggan-small"]) == 0
    assert "fit together for training, 96,000 images in 7 periods, batch 8" in capsys.readouterr().out


def test_the_plan_splits_batches_for_processes_through_the_layer_capability():
    generator, discriminator = small(8)
    with pytest.raises(Exception, match="the global batch size 6 of the 4×4 stage does not divide among 4 processes"):
        RunPlan.build(generator, discriminator, load_training_config(None, {"batch_size": 6}), world_size=4)
    with pytest.raises(Exception, match="groups of 4 on each of 2 processes\n    use a multiple of 8"):
        RunPlan.build(generator, discriminator, load_training_config(None, {"batch_size": 12}), world_size=2)
    plan = RunPlan.build(generator, discriminator, load_training_config(None, {"batch_size": 16}), world_size=2)
    assert plan.batch_group == 4
    assert plan.position_in(1, 0.25).period.fading and plan.position_in(1).alpha == 1.0


# -------------------------------------------------------------------------- phases and the step

def _settings(image_folder: Path, tmp_path: Path, training: dict) -> RunSettings:
    generator, discriminator = small(8)
    return RunSettings(generator=generator, discriminator=discriminator,
                       training=load_training_config(None, training), images_dir=str(image_folder),
                       run_dir=str(tmp_path / "run"), sample_dir=str(tmp_path / "run" / "samples"),
                       model_dir=str(tmp_path / "run" / "checkpoints"), num_workers=1)


def test_a_lazy_regularizer_is_a_phase_with_an_interval(image_folder, tmp_path):
    """logistic with r1_interval 4: [D, D_r1 every 4th step, G, ema]; D's Adam gets lr ×4/5 and
    betas^(4/5) as StyleGAN2's lazy regularization; the R1 term is logged only on the steps that run it."""
    training = {"loss": {"type": "logistic", "r1_gamma": 1.0, "r1_interval": 4}, "batch_size": 8, "d_lr": 0.002}
    trainer = Trainer(_settings(image_folder, tmp_path, training))
    assert [(p.name, p.interval, p.repeats) for p in trainer.phases] == [("D", 1, 1), ("D_r1", 4, 1), ("G", 1, 1),
                                                                         ("ema", 1, 1)]
    logged = [sorted(trainer.train_step()) for _ in range(5)]
    assert logged[0] == logged[4] == ["loss/D", "loss/D_r1", "loss/G"]
    assert logged[1] == logged[2] == logged[3] == ["loss/D", "loss/G"]
    group = trainer.state.d_optimizer.param_groups[0]
    assert group["lr"] == pytest.approx(0.002 * 4 / 5) and group["betas"] == pytest.approx((0.0, 0.99 ** 0.8))
    assert trainer.state.g_optimizer.param_groups[0]["betas"] == (0.0, 0.99)
    assert trainer.state.step == 5 and trainer.state.images_shown == 40
    every_step = Trainer(_settings(image_folder, tmp_path, training | {"loss": {"type": "logistic", "r1_gamma": 1.0}}))
    assert [p.name for p in every_step.phases] == ["D", "G", "ema"]
    assert "loss/D_r1" in every_step.train_step()


def test_the_regularizer_phase_steps_by_interval_times_its_penalty(image_folder, tmp_path):
    training = {"loss": {"type": "logistic", "r1_gamma": 2.0, "r1_interval": 3}, "batch_size": 8}
    trainer = Trainer(_settings(image_folder, tmp_path, training))
    trainer.train_step()  # draws a real batch and sets up the optimizers
    state = trainer.state
    state.d_optimizer = torch.optim.SGD(state.discriminator.parameters(), lr=1.0)
    position = trainer.plan.position(state.images_shown)
    from archgan.losses.objectives import LossContext
    from archgan.training.step import StepContext

    stage = trainer.plan.stage(position)
    context = StepContext(state=state, position=position, stage=stage, loss=trainer.loss,
                          loss_context=LossContext(stage.resolution, 8), generator=state.generator,
                          discriminator=state.discriminator)
    context.draw_real()
    state.discriminator.requires_grad_(True)
    before = [p.detach().clone() for p in state.discriminator.parameters()]
    critic = context.critic(next(context.micro_batches()))
    penalty = trainer.loss.regularizers[0].penalty(critic, context.real, context.loss_context)
    expected = torch.autograd.grad(penalty * 3, list(state.discriminator.parameters()), allow_unused=True)
    regularizer_step(trainer.loss.regularizers[0])(context)
    for old, new, gradient in zip(before, state.discriminator.parameters(), expected):
        change = torch.zeros_like(old) if gradient is None else -gradient
        assert torch.allclose(new.detach() - old, change, atol=1e-5)


def test_n_critic_repeats_the_discriminator_phase_and_counts_its_images(image_folder, tmp_path):
    trainer = Trainer(_settings(image_folder, tmp_path, {"loss": "hinge", "batch_size": 8, "n_critic": 3}))
    assert trainer.phases[0].repeats == 3
    trainer.train_step()
    assert trainer.state.images_shown == 24 and trainer.state.step == 1


@pytest.mark.parametrize("reset", [True, False])
def test_adam_state_is_cleared_when_a_stage_grows_only_if_the_training_file_says_so(reset, image_folder, tmp_path):
    """true (the official ProGAN) starts both optimizers afresh at every period; false (pggan-small's
    default) carries the moments over, and the new stage's weights start theirs at their first gradient."""
    training = {"loss": "hinge", "batch_size": 8, "fade_kimg": 0.016, "stable_kimg": [0.016, 0.016],
                "reset_optimizers_on_grow": reset}
    trainer = Trainer(_settings(image_folder, tmp_path, training))
    for _ in range(3):  # two steps of the stable 4×4 period, then the first of 8×8's fade-in
        trainer.train_step()
    assert trainer.state.period_index == 1
    for optimizer in (trainer.state.g_optimizer, trainer.state.d_optimizer):
        steps = {int(state["step"]) for state in optimizer.state.values()}
        assert steps == ({1} if reset else {1, 3})


def test_build_phases_follows_the_training_file():
    config = load_training_config(None, {"ema_beta": 0, "n_critic": 2})
    from archgan.losses import build_loss

    phases = build_phases(config, build_loss(normalize_loss("wgan-gp")))
    assert [(p.name, p.repeats) for p in phases] == [("D", 2), ("G", 1)]


@pytest.mark.parametrize("overrides, averaged", [({}, True), ({"ema_beta": 0}, False), ({"ema_kimg": None}, True),
                                                 ({"ema_kimg": None, "ema_beta": 0}, False)])
def test_ema_beta_0_turns_the_average_off_with_a_half_life_too(overrides, averaged):
    """pggan-small's file gives a half-life (ema_kimg); `--set ema_beta=0` must still turn the average off in
    the phases and the trainer alike (the trainer made no average while the phases updated one)."""
    from archgan.losses import build_loss

    config = load_training_config("pggan-small", overrides)
    phases = build_phases(config, build_loss(normalize_loss(dict(config.loss))))
    assert config.keeps_average is averaged
    assert ("ema" in [p.name for p in phases]) is averaged


# ------------------------------------------------------------------------------------------ hooks

class _Failing(Hook):
    def after_step(self, trainer, event):
        raise RuntimeError("a hook failed")


def test_hooks_are_closed_when_a_step_fails_and_flags_come_back(image_folder, tmp_path):
    settings = replace(_settings(image_folder, tmp_path, {"batch_size": 8}), cudnn_benchmark=True)
    trainer = Trainer(settings)
    outputs = RunOutputs()
    before = torch.backends.cudnn.benchmark
    handlers = list(logging.getLogger("archgan.train").handlers)
    with pytest.raises(RuntimeError, match="a hook failed"):
        trainer.run([outputs, _Failing()])
    assert torch.backends.cudnn.benchmark == before
    assert logging.getLogger("archgan.train").handlers == handlers  # train.log's handler is gone
    assert outputs.log.tensorboard.all_writers is None  # TensorBoard's writer is closed
    assert (tmp_path / "run" / "logs" / "run.json").is_file()


def test_plots_leave_the_users_matplotlib_backend_alone(image_folder, tmp_path):
    import matplotlib

    code = f"""
import matplotlib
matplotlib.use("svg")
from archgan.cli import main
assert main(["show", "pggan-small", "--plot", "{tmp_path / 'net.png'}"]) == 0
assert main(["train", "--images_dir", "{image_folder}", "--run_dir", "{tmp_path / 'run'}", "--kimg", "0.016",
             "--batch_size", "8", "--max_images", "24"]) == 0
print("BACKEND", matplotlib.get_backend())
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                            env={"XDG_CACHE_HOME": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert "BACKEND svg" in result.stdout
    assert (tmp_path / "net.png").stat().st_size > 1000 and (tmp_path / "run" / "plots" / "losses.png").is_file()
    assert matplotlib.get_backend()  # this process untouched too


# ------------------------------------------------------------------- checkpoints of earlier versions

def _fixture_images(folder: Path) -> Path:
    """The 12 random 8×8 PNGs the fixture run of tests/data/checkpoint-0630233 trained on."""
    folder.mkdir(parents=True)
    generator = np.random.default_rng(0)
    for index in range(12):
        Image.fromarray(generator.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(folder / f"{index:02d}.png")
    return folder


def test_a_checkpoint_written_before_the_core_was_split_loads_and_resumes(tmp_path):
    """tests/data/checkpoint-0630233 was written by commit 0630233 (the trainer before this core) in the
    middle of an 8×8 fade-in; it still loads, and resuming it to the end gives what that code gave."""
    from archgan import load_run

    loaded = load_run(DATA / "checkpoint-0630233")
    assert (loaded.depth, loaded.alpha, loaded.images_shown) == (2, 0.5, 24)
    run = tmp_path / "run"
    checkpoint = run / "checkpoints" / "step-000000006"
    shutil.copytree(DATA / "checkpoint-0630233", checkpoint)
    saved = json.loads((checkpoint / "run.json").read_text())
    saved |= {"images_dir": str(_fixture_images(tmp_path / "images")), "run_dir": str(run),
              "sample_dir": str(run / "samples"), "model_dir": str(run / "checkpoints")}
    (checkpoint / "run.json").write_text(json.dumps(saved))
    assert main(["train", "--resume", str(run), "--max_images", "48"]) == 0
    final = load_file(run / "checkpoints" / "step-000000012" / "generator_ema.safetensors")
    expected = load_file(DATA / "checkpoint-0630233-final-generator_ema.safetensors")
    assert final.keys() == expected.keys()
    difference = math.sqrt(sum(((final[k] - expected[k]).double() ** 2).sum() for k in final))
    assert difference / math.sqrt(sum((expected[k].double() ** 2).sum() for k in expected)) < 1e-4


@pytest.mark.parametrize("batch_size", [4, 8, 32])
def test_an_average_with_a_half_life_halves_an_images_weight_after_that_many_images(batch_size):
    from archgan.training.ema import ema_decay, half_life_decay

    steps = 4000 // batch_size  # a half-life of 4k images
    assert half_life_decay(batch_size, 4) ** steps == pytest.approx(0.5)
    assert half_life_decay(batch_size, 4) ** (2 * steps) == pytest.approx(0.25)
    assert ema_decay(0.999, 0, warmup=True) == pytest.approx(0.1) and ema_decay(0.999, 10**6, warmup=True) == 0.999
