"""`archgan generate`: images, a grid, or a latent-space walk (frames and an animated GIF) from a run
folder or from a generator config and weights file."""
from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import SetupError
from .common import (
    HelpFormatter,
    check_at_most,
    finite_float,
    output_folder,
    resolve_device,
    seed,
)

if TYPE_CHECKING:
    from ..networks import Generator
    from ..networks.styles import Truncation


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """Where the generator comes from, which stage and truncation; shared with `archgan export`."""
    source = parser.add_argument_group("the model")
    source.add_argument("--checkpoint", help="a run folder (its newest checkpoint) or one checkpoint folder")
    source.add_argument("--generator_config", help="generator spec file, built-in name or attn_gan_pytorch .conf")
    source.add_argument("--generator_file", help="generator weights: .safetensors, a pro_gan_pytorch or "
                        "attn_gan_pytorch file (with --generator_config)")
    source.add_argument("--ema", action=argparse.BooleanOptionalAction, default=True,
                        help="use the averaged generator when there is one")
    source.add_argument("--allow_partial", action="store_true",
                        help="load weights that cover only part of the network (the rest keeps its initial values)")
    stage = parser.add_argument_group("which stage")
    which = stage.add_mutually_exclusive_group()
    which.add_argument("--depth", type=int, help="number of stages to run (default: where the run stands, or all)")
    which.add_argument("--resolution", type=int, help="image size; the stage with this resolution")
    stage.add_argument("--alpha", type=finite_float, help="fade-in of the newest stage, 0..1 (default: where the run stands, or 1)")
    styles = parser.add_argument_group("a style-based generator's styles")
    styles.add_argument("--truncation", type=finite_float, metavar="PSI",
                        help="each style pulled toward the average w, w_avg + PSI·(w − w_avg) (StyleGAN: 0.7; 1: none, "
                        "0: the average image)")
    styles.add_argument("--truncation_cutoff", type=int, metavar="N",
                        help="truncate only the first N style layers (StyleGAN: 8, its 4² to 32² layers; default: all)")


def resolve_generator(args: argparse.Namespace, device: str) -> tuple[Generator, int, float]:
    """The generator and the depth and alpha to run it at: where its training had reached (a run
    folder, or weights that say so), unless --depth, --resolution or --alpha say otherwise."""
    from ..loading import load_generator, load_run, warn_if_untrained

    if args.checkpoint and (args.generator_config or args.generator_file):
        raise SetupError("give either --checkpoint or --generator_config/--generator_file, not both")
    if args.checkpoint:
        run = load_run(args.checkpoint, device)
        generator = run.generator_ema if args.ema and run.generator_ema is not None else run.generator
    elif args.generator_config or args.generator_file:
        generator = load_generator(args.generator_config, args.generator_file, ema=args.ema,
                                   strict=not args.allow_partial, device=device)
    else:
        raise SetupError("name a model: --checkpoint RUN_DIR, or --generator_config with --generator_file")
    depth, alpha = generator.default_depth, generator.default_alpha
    if args.resolution is not None:
        sizes = generator.spec.resolutions
        if args.resolution not in sizes:
            raise SetupError(f"--resolution {args.resolution}: this generator has stages at {', '.join(map(str, sizes))}")
        depth, alpha = sizes.index(args.resolution) + 1, 1.0
    elif args.depth is not None:
        if not 1 <= args.depth <= generator.num_stages:
            raise SetupError(f"--depth {args.depth}: must be between 1 and {generator.num_stages}")
        depth, alpha = args.depth, 1.0
    if args.alpha is not None:
        if not 0 <= args.alpha <= 1:
            raise SetupError(f"--alpha {args.alpha}: must be between 0 and 1")
        alpha = args.alpha
    warn_if_untrained(generator, depth)
    return generator, depth, alpha


def resolve_truncation(args: argparse.Namespace, generator: Generator) -> Truncation | None:
    """--truncation and --truncation_cutoff, checked against the generator."""
    from ..sampling import truncation_of

    try:
        return truncation_of(generator, args.truncation, args.truncation_cutoff)
    except ValueError as error:
        raise SetupError(f"--truncation: {error}") from None


def register(commands) -> None:
    parser = commands.add_parser("generate", help="generate images, a grid or an interpolation GIF",
                                 formatter_class=HelpFormatter)
    add_model_arguments(parser)
    out = parser.add_argument_group("output")
    out.add_argument("--out", type=Path, default=Path("generated"), help="folder to write into")
    out.add_argument("--num", type=int, default=64, help="how many images")
    out.add_argument("--grid", action="store_true", help="one grid image instead of one file per image")
    out.add_argument("--interpolate", type=int, metavar="K",
                     help="a walk through K random latents (and back to the first): frames and an animated GIF")
    out.add_argument("--frames", type=int, default=24, help="frames between two latents of the walk")
    out.add_argument("--seed", type=seed, default=0, help="seed of the latents")
    out.add_argument("--class", dest="label", type=int, metavar="K",
                     help="a class-conditional generator's class for every image (default: the classes in turn; "
                     "an interpolation walks in class 0)")
    out.add_argument("--batch_size", type=int, default=64, help="images per forward pass")
    out.add_argument("--device", default="auto", help="cpu, cuda, ... (auto: a GPU when there is one)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import torch
    from PIL import Image
    from torchvision.utils import save_image

    from ..sampling import class_labels, image_grid, render, walk

    for name in ("num", "batch_size", "frames"):
        if getattr(args, name) < 1:
            raise SetupError(f"--{name} {getattr(args, name)}: must be at least 1")
    if args.interpolate is not None and args.interpolate < 2:
        raise SetupError(f"--interpolate {args.interpolate}: a walk needs at least 2 latents")
    check_at_most(args)
    output_folder(args.out, "--out")
    device = resolve_device(args.device)
    generator, depth, alpha = resolve_generator(args, device)
    generator_seed = torch.Generator().manual_seed(args.seed)
    size = generator.resolution(depth)
    try:
        class_labels(generator, 1, args.label)
    except ValueError as error:
        raise SetupError(f"--class {args.label}: {error}") from None
    truncation = resolve_truncation(args, generator)
    if args.interpolate:
        points = torch.randn(args.interpolate, generator.latent_size, generator=generator_seed)
        latents = walk(points, args.frames)
        label = class_labels(generator, len(latents), 0 if args.label is None and generator.spec.classes else args.label)
        frames = render(generator, latents, depth, alpha, args.batch_size, device, label, truncation)
        pictures = []
        for index, frame in enumerate(frames):
            save_image(frame, args.out / f"frame_{index:04d}.png")
            pictures.append(Image.open(args.out / f"frame_{index:04d}.png").convert("RGB"))
        pictures[0].save(args.out / "interpolation.gif", save_all=True, append_images=pictures[1:], duration=40, loop=0)
        print(f"wrote {len(frames)} frames and {args.out / 'interpolation.gif'} ({size}×{size})")
        return 0
    images = render(generator, torch.randn(args.num, generator.latent_size, generator=generator_seed), depth, alpha,
                    args.batch_size, device, class_labels(generator, args.num, args.label), truncation)
    if args.grid:
        save_image(image_grid(images, nrow=math.ceil(math.sqrt(args.num))), args.out / "grid.png")
        print(f"wrote {args.out / 'grid.png'}: {args.num} images at {size}×{size}")
    else:
        for index, image in enumerate(images):
            save_image(image, args.out / f"{index:06d}.png")
        print(f"wrote {args.num} images of {size}×{size} to {args.out}")
    return 0
