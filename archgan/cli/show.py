"""`archgan show SPEC`: a table per stage (layer, activation, output shape, parameters), like
Table 2 of the ProGAN paper, with totals; counted from the spec alone (no torch, no network built)."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..spec import NetworkSpec
from ..spec.summary import growing_head_parameters, summarize
from .common import add_spec_arguments, load_specs, output_file


def register(commands) -> None:
    parser = commands.add_parser("show", help="print the layers, output shapes and parameter counts of a network")
    add_spec_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print the canonical JSON of the spec instead")
    parser.add_argument("--plot", type=Path, metavar="FILE.png",
                        help="also draw the network(s) as they grow: stages, layer families, heads, fade-in")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.plot:
        output_file(args.plot, "--plot")
    specs = load_specs(args.spec, args.role)
    for spec in specs:
        print(spec.to_json() if args.json else render(spec))
    if args.plot:
        from ..spec.diagram import draw

        print(f"wrote {draw(specs, args.plot)}")
    return 0


def render(spec: NetworkSpec) -> str:
    stages = summarize(spec)
    first, last = spec.resolutions[0], spec.resolutions[-1]
    lines = [
        f"{spec.role} '{spec.name}' ({spec.source})",
        (f"latent {spec.latent_size}, " if spec.latent_size else "")
        + f"{spec.image_channels} image channels, "
        + (f"{len(spec.stages)} stages: {first}×{first} → {last}×{last}" if len(spec.stages) > 1 else f"one stage: {first}×{first}"),
    ]
    header = f"  {'layer':<26}{'activation':<13}{'output shape':<16}{'parameters':>12}"
    for stage in stages:
        lines += ["", f"stage {stage.resolution}×{stage.resolution}", header]
        for row in stage.rows:
            count = "" if row.parameters is None else f"{row.parameters:,}"
            name = f"({row.layer})" if row.head else row.layer
            lines.append(f"  {name:<26}{row.activation:<13}{row.output_shape:<16}{count:>12}")
        lines.append(f"  {'stage total':<55}{stage.parameters:>12,}")
    total = sum(stage.parameters for stage in stages)
    growing_heads = growing_head_parameters(spec, stages)
    head = "to_rgb" if spec.role == "generator" else "from_rgb"
    lines += ["", f"total trainable parameters: {total:,}"]
    if growing_heads:
        lines.append(f"  of which {growing_heads:,} in the ({head}) heads of the lower stages, used while growing: "
                     f"{total - growing_heads:,} without them (as the paper's table counts)")
    return "\n".join(lines)
