#!/usr/bin/env python3
"""Save a grid of real training images as the trainer sees them (the README shows it beside samples).

    python scripts/real_grid.py --images_dir DIR --resolution 32 --out docs/images/emoji-real.png
"""
from __future__ import annotations

import argparse

import torch
from torchvision.utils import save_image

from archgan.data import bundled_emoji_dir, load_image_folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images_dir", default=str(bundled_emoji_dir()))
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--count", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    cache = load_image_folder(args.images_dir, args.resolution, 3)
    pick = torch.randperm(len(cache.images), generator=torch.Generator().manual_seed(args.seed))[: args.count]
    images = torch.from_numpy(cache.images[pick.sort().values.numpy()]).float() / 255
    save_image(images, args.out, nrow=8, padding=2)


if __name__ == "__main__":
    main()
