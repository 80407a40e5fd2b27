"""`archgan export`: a generator at one stage as an ONNX or TorchScript file."""
from __future__ import annotations

import argparse
from pathlib import Path

from .common import HelpFormatter, output_file
from .generate import add_model_arguments, resolve_generator, resolve_truncation


def register(commands) -> None:
    parser = commands.add_parser("export", help="write a generator at one stage as ONNX or TorchScript",
                                 formatter_class=HelpFormatter)
    add_model_arguments(parser)
    parser.add_argument("--format", choices=("onnx", "torchscript"), default="onnx", help="file format")
    parser.add_argument("--out", type=Path, required=True, help="the file to write (.onnx, .pt)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..networks.export import export_generator

    output_file(args.out, "--out")
    generator, depth, alpha = resolve_generator(args, "cpu")
    truncation = resolve_truncation(args, generator)
    path = export_generator(generator, args.out, args.format, depth, alpha, truncation)
    size = generator.resolution(depth)
    labels = f" and labels [N] (classes 0 to {generator.spec.classes - 1})" if generator.spec.classes else ""
    print(f"wrote {path}: {args.format}, latents [N, {generator.latent_size}]{labels} → images [N, "
          f"{generator.spec.image_channels}, {size}, {size}]" + ("" if truncation is None else
                                                                f", styles truncated (ψ {truncation.psi:g})"))
    return 0
