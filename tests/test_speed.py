"""The speed options must not change the math: on the CPU the fast path gives the plain path's losses."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

import archgan
from archgan.cli import main
from archgan.networks.fade import fade_in
from archgan.resources import architectures_dir
from archgan.training.speed import SPEED_OPTIONS, default_speed


def _losses(run_dir: Path) -> list[tuple[float, float]]:
    records = [json.loads(line) for line in (run_dir / "logs" / "metrics.jsonl").read_text().splitlines()]
    return [(r["loss/D"], r["loss/G"]) for r in records if "loss/D" in r]


def _runner(write, image_folder, tmp_path, resolution: int):
    generator = write(f"network: generator\nbase: pggan-small\nmax_resolution: {resolution}\n", "s/generator.yaml")
    discriminator = write(f"network: discriminator\nbase: pggan-small\nmax_resolution: {resolution}\n",
                          "s/discriminator.yaml")
    training = write("loss: wgan-gp\nbatch_size: 8\nfade_kimg: 0.016\nstable_kimg: 0.016\nlog_every: 1\n", "s/t.yaml")

    def train(name: str, *flags: str) -> list[tuple[float, float]]:
        assert main(["train", "--generator_config", str(generator), "--discriminator_config", str(discriminator),
                     "--training_config", str(training), "--images_dir", str(image_folder), "--run_dir",
                     str(tmp_path / name), *flags]) == 0
        return _losses(tmp_path / name)

    return train


@pytest.fixture
def run(write, image_folder, tmp_path):
    """WGAN-GP through 4², 8² and 16², two steps per period."""
    return _runner(write, image_folder, tmp_path, 16)


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


def test_speed_defaults_follow_the_device(monkeypatch):
    """All on for CUDA but compiling; on a CPU bf16 autocast and channels_last only where oneDNN has native
    bf16 kernels."""
    assert default_speed("cuda:1") == {name: name not in ("compile", "cuda_graphs") for name in SPEED_OPTIONS}
    assert not any(default_speed("mps").values())
    native = torch.ops.mkldnn._is_mkldnn_bf16_supported()
    assert default_speed("cpu") == {"amp": native, "channels_last": native, "tf32": False, "cudnn_benchmark": False,
                                    "compile": False, "cuda_graphs": False}
    monkeypatch.setattr(torch.backends.mkldnn, "is_available", lambda: False)
    assert not any(default_speed("cpu").values())


def test_a_fade_between_a_bf16_path_and_a_float32_one_is_float32():
    """Under autocast a convolution's path is bf16 and an attention's float32 (APGAN fading in): fade_in
    blends them in float32 instead of failing."""
    old, new = torch.tensor([0.0, 1.0]).bfloat16(), torch.tensor([1.0, 3.0])
    for alpha in (0.25, torch.tensor(0.25)):
        assert torch.equal(fade_in(old, new, alpha), torch.tensor([0.25, 1.5]))


@pytest.fixture
def short_run(write, image_folder, tmp_path):
    """WGAN-GP through 4² and 8², two steps per period."""
    return _runner(write, image_folder, tmp_path, 8)


@pytest.fixture
def compiled_as_traced(monkeypatch):
    """--compile through dynamo and AOTAutograd with eager kernels: the graphs a GPU run compiles, without
    inductor's code generation (a minute per graph on 2 cores). Yields dynamo's counters, cleared."""
    from torch._dynamo.utils import counters

    from archgan.training.speed import CompiledPasses

    monkeypatch.setattr(CompiledPasses, "backend", "aot_eager")
    torch._dynamo.reset()
    counters.clear()
    yield counters
    torch._dynamo.reset()


def test_compile_gives_the_plain_losses(short_run, compiled_as_traced):
    """WGAN-GP's penalty differentiates D twice in the D step: that pass runs eager, the others compiled
    (whole: no graph breaks), through every stage and fade of the schedule."""
    plain = short_run("plain", "--no-channels_last", "--no-amp")
    assert not compiled_as_traced["stats"]
    fast = short_run("compiled", "--compile", "--no-channels_last", "--no-amp")
    assert compiled_as_traced["stats"]["unique_graphs"] >= 6  # G and D, per period
    assert not compiled_as_traced["graph_break"]
    assert len(plain) == len(fast) == 6
    for (d1, g1), (d2, g2) in zip(plain, fast):
        assert d2 == pytest.approx(d1, rel=1e-4, abs=1e-4) and g2 == pytest.approx(g1, rel=1e-4, abs=1e-4)


def test_compile_gives_the_plain_losses_of_a_style_based_network(write, image_folder, tmp_path, compiled_as_traced):
    """StyleGAN2's generator (mapping, noise, style mixing) compiled; lazy R1 and the path length penalty
    eager, as passes differentiated twice must be."""
    generator = write("network: generator\nbase: stylegan2-small\nwidth: {multiplier: 0.0625}\nmax_resolution: 8\n",
                      "s/generator.yaml")
    discriminator = write("network: discriminator\nbase: pggan-small\nmax_resolution: 8\n", "s/discriminator.yaml")
    losses = {}
    for name, flags in (("plain", ()), ("compiled", ("--compile",))):
        run = tmp_path / name
        assert main(["train", "--generator_config", str(generator), "--discriminator_config", str(discriminator),
                     "--training_config", str(architectures_dir() / "stylegan2-small" / "training.yaml"),
                     "--images_dir", str(image_folder), "--run_dir", str(run), "--set", "batch_size=8",
                     "--set", "stable_kimg=[0, 0.032]", "--set", "loss.r1_interval=2", "--set",
                     "path_length.interval=2", "--set", "log_every=1", "--no-amp", "--no-channels_last", *flags]) == 0
        records = [json.loads(line) for line in (run / "logs" / "metrics.jsonl").read_text().splitlines()]
        losses[name] = [(r["loss/D"], r["loss/G"], r.get("loss/D_r1"), r.get("loss/G_pl")) for r in records if "loss/D" in r]
    assert compiled_as_traced["stats"]["unique_graphs"] >= 2
    assert len(losses["compiled"]) == len(losses["plain"]) == 4
    assert losses["plain"][0][2] is not None and losses["plain"][0][3] is not None  # both penalties ran
    for plain, fast in zip(losses["plain"], losses["compiled"]):
        assert [value is None for value in fast] == [value is None for value in plain]
        assert [v for v in fast if v is not None] == pytest.approx([v for v in plain if v is not None], rel=1e-4, abs=1e-4)


HOST_READS = ("item", "tolist", "numpy", "cpu", "__bool__", "__float__", "__int__")
"""The ways a tensor's value reaches Python: each waits for the device (a host synchronisation on CUDA)."""


@pytest.mark.parametrize("base, training", [
    ("pggan-small", {"loss": {"type": "logistic", "r1_gamma": 1, "r1_interval": 2}, "ema_beta": 0.999, "ema_warmup": True,
                     "augment": {"adaptive": {"interval": 2}}}),
    ("stylegan2-small", {"loss": {"type": "logistic", "r1_gamma": 1, "r1_interval": 2}, "style_mixing": 0.9,
                         "path_length": {"weight": 2, "interval": 2}, "fade_kimg": 0, "stable_kimg": [0, 0, 0, 1]}),
])
def test_a_step_never_reads_a_tensor_back_to_the_host(base, training, image_folder, tmp_path, monkeypatch):
    """Every phase (lazy R1, ADA's adjustment, path length, style mixing, the averages) keeps its values on
    the device: a step reads none back, so a GPU runs ahead of Python (losses are read every log_every steps)."""
    from archgan.spec import load_spec_text
    from archgan.training.config import load_training_config
    from archgan.training.run import RunSettings
    from archgan.training.distributed import Distribution
    from archgan.training.trainer import LossMeter, Trainer

    width = {"width": {"multiplier": 0.0625}} if base == "stylegan2-small" else {"max_resolution": 8}
    generator, discriminator = (load_spec_text(json.dumps({"network": role, "base": base, **width}), role=role)
                                for role in ("generator", "discriminator"))
    trainer = Trainer(RunSettings(generator=generator, discriminator=discriminator,
                                  training=load_training_config(None, {"batch_size": 8, **training}),
                                  images_dir=str(image_folder), run_dir=str(tmp_path), sample_dir=str(tmp_path),
                                  model_dir=str(tmp_path), num_workers=1))
    trainer.train_step()  # the first step sets up the optimizers

    package = str(Path(archgan.__file__).parent)
    reads: list[str] = []

    def watched(name: str):
        original = getattr(torch.Tensor, name)

        def read(self, *args, **kwargs):  # torch's own reads (CPU Adam's step counter) are not the step's
            caller = sys._getframe(1).f_code
            if caller.co_filename.startswith(package):
                reads.append(f"{name} in {caller.co_name} ({caller.co_filename})")
            return original(self, *args, **kwargs)

        return read

    for name in HOST_READS:
        monkeypatch.setattr(torch.Tensor, name, watched(name))
    terms = [trainer.train_step() for _ in range(4)]
    assert not reads
    meter = LossMeter()  # reading the losses, every log_every steps, is where they reach the host
    meter.add(terms[0])
    meter.read(Distribution())
    monkeypatch.undo()
    assert reads and all(read.startswith("tolist in read") for read in reads)
    assert {"loss/D", "loss/D_r1", "loss/G"} <= set(terms[1]) and all(torch.isfinite(t) for t in terms[1].values())


def test_cuda_graphs_without_compile_is_refused_with_the_fix(image_folder, tmp_path, capsys):
    assert main(["train", "--images_dir", str(image_folder), "--run_dir", str(tmp_path / "run"), "--cuda_graphs"]) == 1
    error = capsys.readouterr().err
    assert "--cuda_graphs replays the compiled passes as CUDA graphs: add --compile" in error and "Traceback" not in error
