#!/usr/bin/env python3
"""A quality race at equal wall time: archgan against pro_gan_pytorch on the same architecture, data and loss.

Both train `architectures/pro_gan_pytorch` (pro-gan-pth 3.4's networks) up to --resolution on the bundled
emoji with WGAN-GP (λ 10, drift 0.001), Adam 0.003 (0, 0.99), batch 32 and a generator average of
0.999 — pro_gan_pytorch's own defaults — for --seconds each, on one machine, one after the other. With
--fmap_max below its 512 both sides are narrower alike (pro_gan_pytorch's `nf` capped there, archgan's
spec scaled by `width:`; the script checks that the parameter counts agree), so that a CPU race trains
long enough to mean something. The
time is split evenly over the stages, each later stage fading in over the first half of its share, so
both sides grow at the same moments whatever their speed. archgan runs its training file as it is (the
defaults) and with DiffAugment (`augment: {}`). The averaged generators' samples are then compared with
the real images: SWD (×10³, lower is better) and MS-SSIM of generated pairs (lower is more varied; the real
images' own value beside it). Medians over --seeds; one picture of every side's samples (seed 0).

pro_gan_pytorch is installed from PyPI into --peer_dir on first use (with --no-deps, and the one-line
shim torch 2 needs for its transposed convolution inside this script only).

    python benchmarks/quality.py                               # 3 seeds × 3 sides × 240 s, on the CPU
    python benchmarks/quality.py --seconds 20 --seeds 1 --metric_images 256     # a smoke test
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import io
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
from archgan.training.run import RunSettings  # noqa: E402
from archgan.training.trainer import Trainer  # noqa: E402

SIDES = {"archgan": {}, "archgan + DiffAugment": {"augment": {}}}
"""archgan's sides: overrides of architectures/pro_gan_pytorch/training.yaml."""
PEER = "pro_gan_pytorch"


def race(step: Callable[[int, float], None], seconds: float, stages: int) -> int:
    """Call step(stage, alpha) until `seconds` have passed: seconds/stages per stage, the first stable, every
    later one fading in (alpha 0 → 1) over the first half of its share. Returns the steps taken."""
    share, start, steps = seconds / stages, time.perf_counter(), 0
    while (elapsed := time.perf_counter() - start) < seconds:
        stage = min(int(elapsed / share), stages - 1)
        into = (elapsed - stage * share) / share
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
    config = load_training_config(PEER, {"batch_size": 32, "log_every": 10**6} | overrides)
    settings = RunSettings(generator=specs[0], discriminator=specs[1], training=config, images_dir=str(args.images_dir),
                           run_dir=str(work / "run"), sample_dir=str(work / "samples"), model_dir=str(work / "models"),
                           seed=seed, device=args.device, cache_dir=str(args.cache), num_workers=1)
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
    device, depth, batch = torch.device(args.device), int(math.log2(args.resolution)), 32
    progan = narrow_progan(networks, gan, depth, args.fmap_max, device)
    loss = losses.WganGP()
    g_opt = torch.optim.Adam(progan.gen.parameters(), 0.003, betas=(0.0, 0.99))
    d_opt = torch.optim.Adam(progan.dis.parameters(), 0.003, betas=(0.0, 0.99))
    order = torch.Generator().manual_seed(seed)

    def step(stage: int, alpha: float) -> None:
        images = real[torch.randint(len(real), (batch,), generator=order)].to(device).float() / 127.5 - 1
        noise = torch.randn(batch, progan.gen.latent_size, device=device)
        progan.optimize_discriminator(loss, d_opt, noise, images, stage + 2, alpha)
        custom_layers.update_average(progan.gen_shadow, progan.gen, 0.999)
        progan.optimize_generator(loss, g_opt, noise, images, stage + 2, alpha)

    steps = race(step, args.seconds, depth - 1)
    chunks, noise = [], torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for start in range(0, args.metric_images, 64):
            z = torch.randn(min(64, args.metric_images - start), progan.gen.latent_size, generator=noise).to(device)
            chunks.append(to_uint8(progan.gen_shadow(z, depth, 1.0)).cpu())
    return torch.cat(chunks), steps


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
    parser.add_argument("--seconds", type=float, default=240, help="training time of each side and seed")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--resolution", type=int, default=32)
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
    header = (f"{args.seconds:g} s per side and seed, {args.seeds} seeds, {args.resolution}², fmap_max {args.fmap_max} "
              f"({networks_line}), {len(images)} images of "
              f"{data}, {args.device} ({platform.processor() or platform.machine()}, "
              f"{torch.get_num_threads()} threads), torch {torch.__version__}")
    table = header + "\n\n" + "\n".join(rows)
    (args.out / "quality.md").write_text(table + "\n")
    (args.out / "quality.json").write_text(json.dumps({"settings": header, "runs": results}, indent=2))
    grid = torch.cat([pictures[name] for name in results]).float() / 255
    save_image(image_grid(grid, nrow=16), args.out / "samples.png")
    print("\n" + table + f"\n\nwrote {args.out / 'quality.md'}, quality.json, samples.png (rows: {', '.join(results)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
