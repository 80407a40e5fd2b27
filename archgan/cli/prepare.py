"""`archgan prepare IMAGES_DIR`: decode an image folder into the training cache ahead of time.

Training does this on its first run anyway; doing it first tells you how many images are usable and
which files are broken before any GPU time is spent, and lets many processes or machines start from
a cache that is already there. `--grid` saves the images as the trainer sees them.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import SetupError
from ..spec import load_spec
from .common import HelpFormatter, check_at_most, output_file, seed


def register(commands) -> None:
    parser = commands.add_parser("prepare", help="decode an image folder into the training cache and report broken files",
                                 formatter_class=HelpFormatter)
    parser.add_argument("images_dir", help="a folder of jpg/png/webp/bmp/tiff images, flat or nested")
    parser.add_argument("--arch", default="pggan-small",
                        help="built-in architecture whose top resolution and image channels the cache is for")
    parser.add_argument("--generator_config", help="a generator file to take resolution and channels from instead")
    parser.add_argument("--cache_dir", help="where decoded datasets are cached (default: ~/.cache/archgan/datasets)")
    parser.add_argument("--num_workers", type=int, default=4, help="threads decoding images")
    parser.add_argument("--grid", help="also save a PNG grid of images from the cache, as the trainer sees them")
    parser.add_argument("--resolution", type=int, help="resolution of the --grid images (default: the cache's)")
    parser.add_argument("--count", type=int, default=64, help="images in the --grid")
    parser.add_argument("--seed", type=seed, default=0, help="which images go into the --grid")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..data.folder import load_image_folder, printable

    generator = load_spec(args.generator_config or args.arch, "generator")
    top, channels = generator.resolutions[-1], generator.image_channels
    if args.num_workers < 1 or args.count < 1 or (args.resolution is not None and args.resolution < 1):
        raise SetupError("--num_workers, --count and --resolution must be at least 1")
    check_at_most(args)
    if args.grid:
        output_file(Path(args.grid), "--grid")
    cache = load_image_folder(args.images_dir, top, channels, Path(args.cache_dir) if args.cache_dir else None,
                              args.num_workers)
    print(f"{len(cache.images)} images at {top}×{top}, {channels} channel(s), for '{generator.name}': {printable(cache.path)}")
    if cache.skipped:
        print(f"{len(cache.skipped)} file(s) skipped:")
        for name, why in cache.skipped:
            print(f"  {printable(Path(args.images_dir) / name)}: {why}")
    if args.grid:
        save_grid(cache.images, args.grid, args.resolution or top, args.count, args.seed)
        print(f"grid: {args.grid}")
    return 0


def save_grid(images, path: str, resolution: int, count: int, seed: int) -> None:
    """A sorted random pick of the cached uint8 images, average-pooled to `resolution` as in training."""
    import torch
    from torchvision.utils import save_image

    from ..networks.fade import downsample_real_images

    top = images.shape[-1]
    if resolution > top or top % resolution:
        raise SetupError(f"--resolution {resolution}: must divide the cache's {top}×{top}")
    pick = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:count]
    batch = torch.from_numpy(images[pick.sort().values.numpy()]).float() / 255
    save_image(downsample_real_images(batch, top // resolution), path, nrow=8, padding=2)
