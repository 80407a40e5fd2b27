"""`archgan show SPEC`: a table per stage (layer, activation, output shape, parameters), like
Table 2 of the ProGAN paper, with totals; counted from the spec alone (no torch, no network built).
For a built-in (both networks and its training file) also the memory training needs at each stage
(archgan/training/memory.py says how it is estimated)."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..resources import architectures_dir, builtin_architectures
from ..spec import NetworkSpec
from ..spec.memory import stage_activations
from ..spec.stages import style_counts, total_styles
from ..spec.summary import LayerRow, growing_head_parameters, mapping_rows, summarize, total_parameters
from ..training.config import load_training_config
from ..training.memory import estimate_memory, format_bytes
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
    if not args.json and len(specs) == 2 and args.spec in builtin_architectures():
        print(render_memory(specs[0], specs[1], args.spec))
    if args.plot:
        from ..spec.diagram import draw

        print(f"wrote {draw(specs, args.plot)}")
    return 0


def render_memory(generator: NetworkSpec, discriminator: NetworkSpec, name: str) -> str:
    """Per stage: the batch of the built-in's training file and the memory one process needs to train it."""
    training_file = architectures_dir() / name / "training.yaml"
    training = load_training_config(training_file if training_file.is_file() else None)
    estimate = estimate_memory(generator, discriminator, training)
    heading = (f"training memory, estimated (float32, one process; {format_bytes(estimate.fixed_bytes)} of "
               "weights for G, D and G's average in every stage)")
    lines = ["", heading,
             f"  {'stage':<12}{'batch':>6}{'gradients+Adam':>16}{'activations':>14}{'total':>12}"]
    for stage in estimate.stages:
        lines.append(f"  {f'{stage.resolution}×{stage.resolution}':<12}{stage.batch_size:>6}"
                     f"{format_bytes(stage.optimizer_bytes):>16}{format_bytes(stage.activation_bytes):>14}"
                     f"{format_bytes(stage.total_bytes):>12}")
    return "\n".join(lines)


def render(spec: NetworkSpec) -> str:
    stages = summarize(spec)
    activations = {entry.resolution: entry.values for entry in stage_activations(spec)}
    first, last = spec.resolutions[0], spec.resolutions[-1]
    lines = [
        f"{spec.role} '{spec.name}' ({spec.source})",
        (f"latent {spec.latent_size}, " if spec.latent_size else "")
        + f"{spec.image_channels} image channels, "
        + (f"{len(spec.stages)} stages: {first}×{first} → {last}×{last}" if len(spec.stages) > 1 else f"one stage: {first}×{first}"),
    ]
    if spec.images != "last":
        lines.append(f"images: {spec.images}" + (f" (merge: {spec.merge})" if spec.role == "discriminator" else ""))
    mapping = mapping_rows(spec)
    widths = _widths([*mapping, *(row for stage in stages for row in stage.rows)])
    header = _line(("layer", "activation", "output shape", "parameters"), widths)
    total_width = sum(widths[:3])
    if mapping:
        readers = sum(counts[0] + counts[1] for counts in style_counts(spec))
        styles = total_styles(spec)
        read = f"read by {readers} layers" + (f" as {styles} styles" if styles != readers else "")
        lines += ["", f"mapping network (z → the style w, {read})", header]
        lines += [_row(row, widths) for row in mapping]
        mapping_total = sum(row.parameters or 0 for row in mapping if row.depth == 0)
        lines.append(f"  {'mapping total':<{total_width}}{mapping_total:>12,}")
    for stage in stages:
        lines += ["", f"stage {stage.resolution}×{stage.resolution}", header]
        lines += [_row(row, widths) for row in stage.rows]
        lines.append(f"  {'stage total':<{total_width}}{stage.parameters:>12,}")
        when = " while this stage fades in" if len(stages) > 1 else ""
        lines.append(f"  values kept for the backward pass per image{when}: {activations[stage.resolution]:,}")
    total = total_parameters(spec)
    growing_heads = growing_head_parameters(spec, stages)
    head = "to_rgb" if spec.role == "generator" else "from_rgb"
    lines += ["", f"total trainable parameters: {total:,}"]
    if growing_heads:
        lines.append(f"  of which {growing_heads:,} in the ({head}) heads of the lower stages, used while growing: "
                     f"{total - growing_heads:,} without them (as the paper's table counts)")
    return "\n".join(lines)


def _cells(row: LayerRow) -> tuple[str, str, str, str]:
    count = "" if row.parameters is None else f"{row.parameters:,}"
    name = "  " * row.depth + (f"({row.layer})" if row.head and row.depth == 0 else row.layer)
    return name, row.activation, row.output_shape, count


def _widths(rows: list[LayerRow]) -> tuple[int, int, int]:
    """The layer, activation and output-shape columns: 26, 13 and 16 wide, or as wide as a cell needs."""
    cells = [_cells(row) for row in rows]
    return tuple(max([minimum] + [len(cell[column]) + 1 for cell in cells])
                 for column, minimum in enumerate((26, 13, 16)))  # type: ignore[return-value]


def _line(cells: tuple[str, str, str, str], widths: tuple[int, int, int]) -> str:
    return f"  {cells[0]:<{widths[0]}}{cells[1]:<{widths[1]}}{cells[2]:<{widths[2]}}{cells[3]:>12}"


def _row(row: LayerRow, widths: tuple[int, int, int]) -> str:
    return _line(_cells(row), widths)
