#!/usr/bin/env python3
"""Training throughput of archgan against the PyTorch packages people use, side by side in one process.

For each resolution: real images per second through one discriminator step, one generator step and the
generator-average update, at fade-in (alpha 0.5), with the data already on the device; for archgan's
trainer (its public `Trainer.train_step`, speed options as `train.py` sets them) and for the peer on the
same architecture, loss and batch size:

- pro_gan_pytorch (pip pro-gan-pth 3.4, WGAN-GP) against architectures/pro_gan_pytorch;
- attn_gan_pytorch (FAGAN's fagan_1 networks, relativistic hinge) against architectures/fagan.

The peers are installed from PyPI into --peer_dir on first use (pro-gan-pth with --no-deps and, inside
this script only, the one-line shim torch 2 needs for its transposed convolution). Achieved TFLOP/s
counts the model FLOPs of a step without the gradient penalty (torch.utils.flop_counter) over the
measured time of the full step: a lower bound. Figures are medians over --repeats blocks of --steps.

    python benchmarks/throughput.py --device cuda                                   # the full table
    python benchmarks/throughput.py --device cpu --resolutions 4,8 --batch_scale 0.0625 --steps 2 --repeats 1
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.flop_counter import FlopCounterMode

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from archgan.cli.train import speed_options  # noqa: E402
from archgan.losses import normalize_loss  # noqa: E402
from archgan.spec import load_spec_text  # noqa: E402
from archgan.training.config import load_training_config  # noqa: E402
from archgan.training.run import RunSettings  # noqa: E402
from archgan.training.speed import SPEED_OPTIONS, backend_flags  # noqa: E402
from archgan.training.trainer import Trainer  # noqa: E402

PROGAN_BATCH = {4: 256, 8: 256, 16: 128, 32: 64, 64: 32, 128: 32, 256: 16}
PEER_PACKAGES = {"pro_gan_pytorch": ["--no-deps", "pro-gan-pth==3.4"], "attn_gan_pytorch": ["attn-gan-pytorch", "easydict"]}


def install_peer(module: str, folder: Path) -> bool:
    """Make a peer importable, installing it from PyPI into `folder` the first time."""
    sys.path.insert(0, str(folder))
    try:
        __import__(module)
        return True
    except ImportError:
        pass
    result = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--target", str(folder),
                             *PEER_PACKAGES[module]], capture_output=True, text=True)
    if result.returncode != 0:
        print(f"# {module} could not be installed: {result.stderr.strip()[-200:]}")
        return False
    __import__(module)
    return True


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def images_per_second(step, batch: int, device: torch.device, warmup: int, steps: int, repeats: int) -> float:
    for _ in range(warmup):
        step()
    synchronize(device)
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            step()
        synchronize(device)
        rates.append(steps * batch / (time.perf_counter() - start))
    return statistics.median(rates)


def image_folder(folder: Path, resolution: int, count: int, classes: int | None = None) -> Path:
    """`count` random images; for a class-conditional network in `classes` class subfolders."""
    generator = np.random.default_rng(0)
    for index in range(count):
        pixels = generator.integers(0, 256, (resolution, resolution, 3), dtype=np.uint8)
        target = folder / f"class{index % classes}" if classes else folder
        target.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(target / f"{index:05d}.png")
    return folder


def our_trainer(architecture: str, max_resolution: int, training: dict, batches: list[int], device: str,
                work: Path, speed: dict) -> Trainer:
    specs = [load_spec_text(json.dumps({"network": role, "base": architecture, "max_resolution": max_resolution}),
                            role=role) for role in ("generator", "discriminator")]
    config = load_training_config(None, training | {"batch_size": batches})
    classes = specs[0].classes
    images = image_folder(work / "images", max_resolution, max(max(batches), 2 * (classes or 0)), classes)
    settings = RunSettings(generator=specs[0], discriminator=specs[1], training=config, images_dir=str(images),
                           run_dir=str(work / "run"), sample_dir=str(work / "samples"), model_dir=str(work / "models"),
                           device=device, cache_dir=str(work / "cache"), num_workers=1, **speed)
    return Trainer(settings)


def our_step(trainer: Trainer, stage: int):
    """One training step at `stage`, fading in at alpha 0.5 (stable where the schedule has no fade-in to it:
    the first stage trained)."""
    fades = any(period.stage == stage and period.fading for period in trainer.plan.periods)
    position = trainer.plan.position_in(stage, 0.5 if fades else 1.0)
    return lambda: trainer.train_step(position)


def achieved_tflops(trainer: Trainer, stage: int, seconds_per_step: float) -> float:
    """Model FLOPs of a step without the penalty (the hinge loss: same networks, no double backward)."""
    settings = trainer.settings
    plain = Trainer(replace(settings, training=replace(settings.training, loss=normalize_loss("hinge"))))
    step = our_step(plain, stage)
    with FlopCounterMode(display=False) as counter:
        step()
    return counter.get_total_flops() / seconds_per_step / 1e12


PROGAN_TRAINING = {"loss": {"type": "wgan-gp", "gp_weight": 10, "drift": 0.001}, "g_lr": 0.003, "d_lr": 0.003,
                   "adam_betas": [0.0, 0.99], "ema_beta": 0.999}
"""pro_gan_pytorch's training as its ProGAN runs it."""


def progan_rows(args, device: torch.device, work: Path) -> list[dict]:
    resolutions = args.resolutions
    batches = [max(4, round(PROGAN_BATCH[r] * args.batch_scale) // 4 * 4) for r in resolutions]
    speed = {name: getattr(args, name) for name in SPEED_OPTIONS}
    trainer = our_trainer("pro_gan_pytorch", resolutions[-1], PROGAN_TRAINING, batches, str(device), work, speed)
    peer = install_peer("pro_gan_pytorch", args.peer_dir) if args.peers else False
    if peer:
        from pro_gan_pytorch import custom_layers, gan, losses, networks

        padding = torch.nn.ConvTranspose2d._output_padding  # the shim torch 2 needs, in this script only
        custom_layers.EqualizedConvTranspose2d._output_padding = (
            lambda self, input, output_size, stride, pad, kernel, num_spatial_dims=2, dilation=None:
            padding(self, input, output_size, stride, pad, kernel, num_spatial_dims, dilation))
        depth = int(np.log2(resolutions[-1]))
        with contextlib.redirect_stdout(io.StringIO()):  # it prints both networks
            progan = gan.ProGAN(networks.Generator(depth=depth), networks.Discriminator(depth=depth), device)
        loss = losses.WganGP()
        g_opt = torch.optim.Adam(progan.gen.parameters(), 0.003, betas=(0.0, 0.99))
        d_opt = torch.optim.Adam(progan.dis.parameters(), 0.003, betas=(0.0, 0.99))
    rows = []
    for stage, (resolution, batch) in enumerate(zip(resolutions, batches)):
        ours = images_per_second(our_step(trainer, stage), batch, device, args.warmup, args.steps, args.repeats)
        row = {"resolution": resolution, "batch": batch, "archgan": ours,
               "tflops": achieved_tflops(trainer, stage, batch / ours)}
        if peer:
            real = torch.rand(batch, 3, resolutions[-1], resolutions[-1], device=device) * 2 - 1
            noise = torch.randn(batch, 512, device=device)
            their_depth, alpha = stage + 2, 0.5 if stage else 1.0

            def peer_step():
                progan.optimize_discriminator(loss, d_opt, noise, real, their_depth, alpha)
                custom_layers.update_average(progan.gen_shadow, progan.gen, 0.999)
                progan.optimize_generator(loss, g_opt, noise, real, their_depth, alpha)

            row["peer"] = images_per_second(peer_step, batch, device, args.warmup, args.steps, args.repeats)
        rows.append(row)
    return rows


def fagan_row(args, device: torch.device, work: Path) -> dict:
    batch = max(4, round(32 * args.batch_scale))
    speed = {name: getattr(args, name) for name in SPEED_OPTIONS}
    trainer = our_trainer("fagan", 64, {"loss": "relativistic-hinge", "g_lr": 0.0001, "d_lr": 0.0004,
                          "adam_betas": [0.0, 0.9], "ema_beta": 0}, [batch], str(device), work, speed)
    ours = images_per_second(our_step(trainer, 0), batch, device, args.warmup, args.steps, args.repeats)
    row = {"resolution": 64, "batch": batch, "archgan": ours, "tflops": achieved_tflops(trainer, 0, batch / ours)}
    if args.peers and install_peer("attn_gan_pytorch", args.peer_dir):
        import yaml
        from attn_gan_pytorch import ConfigManagement, Losses, Networks, Utils

        original = yaml.load  # its get_config calls yaml.load without a Loader (PyYAML 6 refuses that)
        yaml.load = lambda stream, Loader=yaml.SafeLoader, **kw: original(stream, Loader=Loader, **kw)
        try:
            reference = REPO / "docs" / "examples" / "fagan_1"  # the fagan_1 pair in the package's own format
            nets = {name: list(map(Utils.get_layer, ConfigManagement.get_config(str(reference / name)).architecture))
                    for name in ("gen.conf", "dis.conf")}
        finally:
            yaml.load = original
        peer = Networks.GAN(Networks.Generator(nets["gen.conf"], 128), Networks.Discriminator(nets["dis.conf"]), device)
        peer.generator.train()  # as its training loop does
        peer.discriminator.train()
        loss = Losses.RelativisticAverageHingeGAN(device, peer.discriminator)
        g_opt = torch.optim.Adam(peer.generator.parameters(), 0.0001, betas=(0.0, 0.9))
        d_opt = torch.optim.Adam(peer.discriminator.parameters(), 0.0004, betas=(0.0, 0.9))
        real = torch.rand(batch, 3, 64, 64, device=device) * 2 - 1

        def peer_step():
            peer.optimize_discriminator(d_opt, torch.randn(batch, 128, 1, 1, device=device), real, loss)
            peer.optimize_generator(g_opt, torch.randn(batch, 128, 1, 1, device=device), real, loss)

        row["peer"] = images_per_second(peer_step, batch, device, args.warmup, args.steps, args.repeats)
    return row


def table(title: str, peer: str, rows: list[dict]) -> str:
    lines = [f"\n{title}", f"| resolution | batch | archgan img/s | {peer} img/s | ratio | archgan TFLOP/s (≥) |",
             "|---|---|---|---|---|---|"]
    for row in rows:
        their = row.get("peer")
        ratio = f"{row['archgan'] / their:.2f}×" if their else "n/a"
        lines.append(f"| {row['resolution']} | {row['batch']} | {row['archgan']:,.1f} | "
                     f"{f'{their:,.1f}' if their else 'n/a'} | {ratio} | {row['tflops']:.3f} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--resolutions", default="4,8,16,32,64,128,256", help="the pro_gan_pytorch rows")
    parser.add_argument("--batch_scale", type=float, default=1.0, help="scale the batch sizes (small for CPU checks)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--peer_dir", type=Path, default=Path.home() / ".cache" / "archgan" / "benchmark_peers")
    parser.add_argument("--peers", action=argparse.BooleanOptionalAction, default=True, help="measure the peers too")
    parser.add_argument("--fagan", action=argparse.BooleanOptionalAction, default=True, help="the FAGAN row")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    for name in SPEED_OPTIONS:
        parser.add_argument(f"--{name}", action=argparse.BooleanOptionalAction, default=None)
    args = parser.parse_args()
    device = torch.device(args.device)
    args.resolutions = [int(r) for r in args.resolutions.split(",")]
    vars(args).update(speed_options(args, device.type))  # as train.py picks them
    args.peer_dir.mkdir(parents=True, exist_ok=True)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "CPU"
    print(f"# {name}, torch {torch.__version__}, speed options: "
          + " ".join(f"{option}={getattr(args, option)}" for option in SPEED_OPTIONS))
    with tempfile.TemporaryDirectory() as folder, backend_flags(args.tf32, args.cudnn_benchmark):
        (Path(folder) / "progan" / "images").mkdir(parents=True)
        progan = progan_rows(args, device, Path(folder) / "progan")
        print(table("pro_gan_pytorch architecture, WGAN-GP, alpha 0.5", "pro_gan_pytorch", progan))
        results = {"device": name, "torch": torch.__version__, "progan": progan}
        if args.fagan:
            (Path(folder) / "fagan" / "images").mkdir(parents=True)
            fagan = fagan_row(args, device, Path(folder) / "fagan")
            print(table("FAGAN (fagan_1), relativistic hinge", "attn_gan_pytorch", [fagan]))
            results["fagan"] = fagan
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
