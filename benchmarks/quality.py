#!/usr/bin/env python3
"""A quality race at equal wall time: archgan against pro_gan_pytorch on the same architecture, data and loss.

Both train `architectures/pro_gan_pytorch` (pro-gan-pth 3.4's networks) up to --resolution on the bundled
emoji for --seconds each, on one machine, one after the other, with the loss and rates that train in
minutes on a CPU (the default run's, architectures/pggan-small, when the race was run): the non-saturating
logistic loss with the R1 penalty (γ 1, every step: pro_gan_pytorch has no lazy regularization, so neither
side uses it; its side gets the loss as a `GANLoss` of this script), Adam 0.002 (0, 0.99), --batch_size 16 and a
generator average of 0.999 warmed up as the default run's (`ema_warmup`; pro_gan_pytorch's update_average
is given the same decay per step). Without the warm-up, or with pro_gan_pytorch's own WGAN-GP at lr 0.003,
both sides draw single-colour blobs after minutes on a CPU. With --fmap_max below its 512 both sides are
narrower alike (pro_gan_pytorch's `nf` capped there, archgan's spec scaled by `width:`; the script checks
that the parameter counts agree). Each stage trains twice as long as the one below it, each later stage
fading in over the first half of its time, so both sides grow at the same moments whatever their speed.
archgan runs with its defaults (its speed options as `train.py` picks them for the device) and with
DiffAugment (`augment: {}`). The averaged generators' samples are then compared with the real images: SWD
(×10³, lower is better) and MS-SSIM of generated pairs (lower is more varied; the real images' own value
beside it). Medians over --seeds; one picture of every side's samples (seed 0).

pro_gan_pytorch is installed from PyPI into --peer_dir on first use (with --no-deps, and the one-line
shim torch 2 needs for its transposed convolution inside this script only).

    python benchmarks/quality.py                               # 3 seeds × 3 sides × 180 s: about 33 min on 2 CPU cores
    python benchmarks/quality.py --seconds 20 --seeds 1 --metric_images 256     # a smoke test
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import io
import itertools
import json
import math
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.utils import save_image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from throughput import install_peer  # noqa: E402

from archgan.data.folder import load_image_folder  # noqa: E402
from archgan.metrics.measure import compute, generate_uint8, reals_uint8, to_uint8  # noqa: E402
from archgan.resources import bundled_emoji_dir  # noqa: E402
from archgan.sampling import image_grid  # noqa: E402
from archgan.spec import load_spec_text  # noqa: E402
from archgan.training.config import load_training_config  # noqa: E402
from archgan.training.ema import ema_decay  # noqa: E402
from archgan.training.run import RunSettings  # noqa: E402
from archgan.training.speed import default_speed  # noqa: E402
from archgan.training.trainer import Trainer  # noqa: E402

R1_GAMMA, LR, EMA_BETA = 1.0, 0.002, 0.999
RACE = {"loss": {"type": "logistic", "r1_gamma": R1_GAMMA, "r1_interval": 1}, "g_lr": LR, "d_lr": LR,
        "adam_betas": [0.0, 0.99], "ema_beta": EMA_BETA, "ema_warmup": True}
"""What both sides train with: overrides of architectures/pro_gan_pytorch/training.yaml (its own betas)."""
SIDES = {"archgan": {}, "archgan + DiffAugment": {"augment": {}}}
"""archgan's sides: overrides on top of RACE."""
PEER = "pro_gan_pytorch"


def race(step: Callable[[int, float], None], seconds: float, stages: int,
         clock: Callable[[], float] = time.perf_counter) -> int:
    """Call step(stage, alpha) until `seconds` have passed, each stage twice as long as the one below it (as
    the default run's stages take about twice the time of the one before), the first stable, every later
    one fading in (alpha 0 → 1) over the first half of its time. Returns the steps taken."""
    ends = [seconds * (2 ** (stage + 1) - 1) / (2 ** stages - 1) for stage in range(stages)]
    start, steps = clock(), 0
    while (elapsed := clock() - start) < seconds:
        stage = next((index for index, end in enumerate(ends) if elapsed < end), stages - 1)
        begin = ends[stage - 1] if stage else 0.0
        into = (elapsed - begin) / (ends[stage] - begin)
        step(stage, 1.0 if stage == 0 or into >= 0.5 else into / 0.5)
        steps += 1
    return steps


def our_specs(args) -> list:
    """archgan's pro_gan_pytorch networks, as narrow as --fmap_max says (latent_size too, as the peer's)."""
    narrow = {} if args.fmap_max == 512 else {"width": {"multiplier": args.fmap_max / 512}}
    latent = {"latent_size": args.fmap_max} if narrow else {}
    return [load_spec_text(json.dumps({"network": role, "base": PEER, "max_resolution": args.resolution, **narrow,
                                       **(latent if role == "generator" else {})}), role=role)
            for role in ("generator", "discriminator")]


def ours(overrides: dict, args, seed: int, work: Path) -> tuple[torch.Tensor, int]:
    """archgan's averaged generator's samples (uint8) after the race, and its steps."""
    specs = our_specs(args)
    config = load_training_config(PEER, RACE | {"batch_size": args.batch_size, "log_every": 10**6} | overrides)
    settings = RunSettings(generator=specs[0], discriminator=specs[1], training=config, images_dir=str(args.images_dir),
                           run_dir=str(work / "run"), sample_dir=str(work / "samples"), model_dir=str(work / "models"),
                           seed=seed, device=args.device, cache_dir=str(args.cache), num_workers=1,
                           **default_speed(args.device))
    trainer = Trainer(settings)
    stages = len(specs[0].stages)
    steps = race(lambda stage, alpha: trainer.train_step(trainer.plan.position_in(stage, alpha)), args.seconds, stages)
    fake = generate_uint8(trainer.state.generator_ema, args.metric_images, stages, 1.0, args.device, seed=seed)
    return fake, steps


def peer(real: torch.Tensor, args, seed: int) -> tuple[torch.Tensor, int]:
    """pro_gan_pytorch's own training steps (optimize_discriminator, update_average, optimize_generator) in
    the same race; its averaged generator's samples."""
    from pro_gan_pytorch import custom_layers, gan, losses, networks

    padding = torch.nn.ConvTranspose2d._output_padding  # the shim torch 2 needs, in this script only
    custom_layers.EqualizedConvTranspose2d._output_padding = (
        lambda self, input, output_size, stride, pad, kernel, num_spatial_dims=2, dilation=None:
        padding(self, input, output_size, stride, pad, kernel, num_spatial_dims, dilation))
    torch.manual_seed(seed)
    device, depth, batch = torch.device(args.device), int(math.log2(args.resolution)), args.batch_size
    progan = narrow_progan(networks, gan, depth, args.fmap_max, device)
    loss = logistic_r1(losses.GANLoss)()
    g_opt = torch.optim.Adam(progan.gen.parameters(), LR, betas=(0.0, 0.99))
    d_opt = torch.optim.Adam(progan.dis.parameters(), LR, betas=(0.0, 0.99))
    order, updates = torch.Generator().manual_seed(seed), itertools.count()

    def step(stage: int, alpha: float) -> None:
        images = real[torch.randint(len(real), (batch,), generator=order)].to(device).float() / 127.5 - 1
        noise = torch.randn(batch, progan.gen.latent_size, device=device)
        progan.optimize_discriminator(loss, d_opt, noise, images, stage + 2, alpha)
        custom_layers.update_average(progan.gen_shadow, progan.gen, ema_decay(EMA_BETA, next(updates), warmup=True))
        progan.optimize_generator(loss, g_opt, noise, images, stage + 2, alpha)

    steps = race(step, args.seconds, depth - 1)
    chunks, noise = [], torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for start in range(0, args.metric_images, 64):
            z = torch.randn(min(64, args.metric_images - start), progan.gen.latent_size, generator=noise).to(device)
            chunks.append(to_uint8(progan.gen_shadow(z, depth, 1.0)).cpu())
    return torch.cat(chunks), steps


def logistic_r1(base: type) -> type:
    """archgan's `logistic` loss with R1 every step, as a loss class of pro_gan_pytorch (`base`: its GANLoss)."""

    class LogisticR1(base):
        def dis_loss(self, discriminator, real_samples, fake_samples, depth, alpha, labels=None):
            real = real_samples.detach().requires_grad_(True)
            real_scores = discriminator(real, depth, alpha)
            (gradient,) = torch.autograd.grad(real_scores.sum(), real, create_graph=True)
            r1 = R1_GAMMA / 2 * gradient.square().sum(dim=[1, 2, 3]).mean()
            fake_scores = discriminator(fake_samples, depth, alpha)
            return F.softplus(fake_scores).mean() + F.softplus(-real_scores).mean() + r1

        def gen_loss(self, discriminator, real_samples, fake_samples, depth, alpha, labels=None):
            return F.softplus(-discriminator(fake_samples, depth, alpha)).mean()

    return LogisticR1


def narrow_progan(networks, gan, depth: int, fmap_max: int, device: torch.device):
    """pro_gan_pytorch's ProGAN with its feature maps and latent capped at `fmap_max` (its nf() has 512)."""
    widths = networks.nf
    networks.nf = functools.partial(widths, fmap_max=fmap_max)
    try:
        latent = min(512, fmap_max)  # its D's last convolution is latent_size wide, as archgan's (see its spec)
        with contextlib.redirect_stdout(io.StringIO()):  # it prints both networks
            return gan.ProGAN(networks.Generator(depth=depth, latent_size=latent),
                              networks.Discriminator(depth=depth, latent_size=latent), device)
    finally:
        networks.nf = widths


def check_same_networks(args) -> str:
    """Both sides' parameter counts, which must be equal."""
    from pro_gan_pytorch import gan, networks

    from archgan.spec.summary import total_parameters

    progan = narrow_progan(networks, gan, int(math.log2(args.resolution)), args.fmap_max, torch.device("cpu"))
    theirs = [sum(p.numel() for p in net.parameters()) for net in (progan.gen, progan.dis)]
    ours = [total_parameters(spec) for spec in our_specs(args)]
    if theirs != ours:
        raise SystemExit(f"the networks differ: pro_gan_pytorch G, D {theirs}, archgan {ours}")
    return f"G {ours[0]:,}, D {ours[1]:,} parameters on both sides"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=180, help="training time of each side and seed")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--fmap_max", type=int, default=64, help="the widest layer (pro_gan_pytorch's own: 512)")
    parser.add_argument("--images_dir", type=Path, default=bundled_emoji_dir())
    parser.add_argument("--metric_images", type=int, default=2048)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--peer_dir", type=Path, default=Path.home() / ".cache" / "archgan" / "benchmark_peers")
    parser.add_argument("--out", type=Path, default=Path("runs") / "quality")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if not install_peer(PEER, args.peer_dir):
        print(f"{PEER} is not installed and could not be installed into {args.peer_dir}", file=sys.stderr)
        return 1
    networks_line = check_same_networks(args)
    args.cache = args.out / "cache"
    images = load_image_folder(args.images_dir, args.resolution, 3, args.cache).images
    real_all = torch.from_numpy(np.array(images))
    real = reals_uint8(images, args.resolution, args.metric_images)
    results: dict[str, list[dict]] = {name: [] for name in [*SIDES, PEER]}
    pictures: dict[str, torch.Tensor] = {}
    for seed in range(args.seeds):
        for name in results:
            work = args.out / "work" / f"{name.replace(' ', '')}-{seed}"
            fake, steps = peer(real_all, args, seed) if name == PEER else ours(SIDES[name], args, seed, work)
            values = compute(["swd", "msssim"], real, fake)
            results[name].append({"seed": seed, "steps": steps, **values})
            pictures.setdefault(name, fake[:16])
            print(f"seed {seed} {name:24} steps {steps:6} swd/avg {values['swd/avg']:7.2f} "
                  f"msssim/fake {values['msssim/fake']:.3f}", flush=True)
    rows = ["| side | steps | SWD avg ×10³ (median) | MS-SSIM fake (median) | MS-SSIM real |", "|---|---|---|---|---|"]
    for name, runs in results.items():
        median = lambda key: statistics.median(run[key] for run in runs)  # noqa: E731
        rows.append(f"| {name} | {median('steps'):,.0f} | {median('swd/avg'):.2f} | {median('msssim/fake'):.3f} | "
                    f"{median('msssim/real'):.3f} |")
    data = "the bundled emoji" if args.images_dir == bundled_emoji_dir() else str(args.images_dir)
    header = (f"{args.seconds:g} s per side and seed, {args.seeds} seeds, {args.resolution}², "
              f"fmap_max {args.fmap_max}, batch {args.batch_size}, logistic + R1 γ {R1_GAMMA:g}, lr {LR:g}, "
              f"({networks_line}), {len(images)} images of "
              f"{data}, {args.device} ({platform.processor() or platform.machine()}, "
              f"{torch.get_num_threads()} threads), torch {torch.__version__}, archgan's speed options: "
              f"{', '.join(name for name, on in default_speed(args.device).items() if on) or 'none'}")
    table = header + "\n\n" + "\n".join(rows)
    (args.out / "quality.md").write_text(table + "\n")
    (args.out / "quality.json").write_text(json.dumps({"settings": header, "runs": results}, indent=2))
    grid = torch.cat([pictures[name] for name in results]).float() / 255
    save_image(image_grid(grid, nrow=16), args.out / "samples.png")
    print("\n" + table + f"\n\nwrote {args.out / 'quality.md'}, quality.json, samples.png (rows: {', '.join(results)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
