"""`archgan metrics`: SWD, MS-SSIM and FID/KID of a run's generator against a folder of real images;
prints a table and appends the values to the run's logs/metrics.jsonl."""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from ..errors import SetupError
from ..metrics import METRICS, parse_metric_names
from .common import HelpFormatter, check_at_most, resolve_device, seed


def register(commands) -> None:
    parser = commands.add_parser("metrics", help="measure a run's generator against real images",
                                 formatter_class=HelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="a run folder (its newest checkpoint) or a checkpoint folder")
    parser.add_argument("--images_dir", help="the real images (default: the run's training images)")
    parser.add_argument("--metrics", default="swd,msssim", help=f"comma-separated: {', '.join(METRICS)}")
    parser.add_argument("--num", type=int, default=16384, help="real and generated images compared (at most the folder's)")
    parser.add_argument("--resolution", type=int, help="stage to measure (default: the one the run reached)")
    parser.add_argument("--ema", action=argparse.BooleanOptionalAction, default=True, help="the averaged generator")
    parser.add_argument("--inception_weights", help="Inception-v3 weights for fid (or ARCHGAN_INCEPTION_WEIGHTS)")
    parser.add_argument("--seed", type=seed, default=0, help="seed of the latents, the real subset and the SWD draws")
    parser.add_argument("--device", default="auto", help="cpu, cuda, ... (auto: a GPU when there is one)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..data.folder import load_image_folder
    from ..loading import load_run
    from ..metrics.measure import compute, format_table, generate_uint8, reals_uint8

    names = parse_metric_names(args.metrics)
    if args.num < 2:
        raise SetupError(f"--num {args.num}: must be at least 2")
    check_at_most(args)
    device = resolve_device(args.device)
    loaded = load_run(args.checkpoint, device)
    generator = loaded.generator_ema if args.ema and loaded.generator_ema is not None else loaded.generator
    depth, alpha = loaded.depth, loaded.alpha
    if args.resolution is not None:
        if args.resolution not in generator.spec.resolutions:
            raise SetupError(f"--resolution {args.resolution}: the run's stages are at "
                             f"{', '.join(map(str, generator.spec.resolutions))}")
        depth, alpha = generator.spec.resolutions.index(args.resolution) + 1, 1.0
    resolution = generator.resolution(depth)
    settings = loaded.settings
    cache = load_image_folder(args.images_dir or settings.images_dir, settings.generator.resolutions[-1],
                              settings.generator.image_channels, Path(settings.cache_dir) if settings.cache_dir else None)
    count = min(args.num, len(cache.images))
    real = reals_uint8(cache.images, resolution, count, args.seed)
    fake = generate_uint8(generator, count, depth, alpha, device, seed=args.seed)
    values = compute(names, real, fake, device=device, seed=args.seed, inception_weights=args.inception_weights)
    print(f"{count} real and {count} generated images at {resolution}×{resolution} ({loaded.checkpoint}):")
    print(format_table(values))
    record = {"kind": "metrics", "step": None, "images": loaded.images_shown, "resolution": resolution,
              "time": time.time(), "checkpoint": str(loaded.checkpoint), "num": count, **values}
    metrics_file = Path(settings.run_dir) / "logs" / "metrics.jsonl"
    if metrics_file.parent.is_dir():
        with open(metrics_file, "a") as handle:
            handle.write(json.dumps(record) + "\n")
    return 0
