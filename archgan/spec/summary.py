"""Per-layer summary of a network, in the spirit of Table 2 of the ProGAN paper: every layer's output
shape and parameter count, from the registry's shape and parameter rules (nothing is built, so
`archgan show` needs no torch; a test checks the counts against the built modules)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from ..layers import BuildContext, Shape, layer_type
from ..layers.activations import activation_label
from .model import LayerSpec, NetworkSpec
from .shapes import format_shape, layer_parameters, output_shape, trace
from .stages import image_shape, stage_plan, stage_shapes


@dataclass(frozen=True)
class LayerRow:
    layer: str
    activation: str
    output_shape: str
    parameters: int | None  # None for the input row; a block's include its paths'
    head: bool = False  # a to_rgb / from_rgb layer
    depth: int = 0  # 0 for an entry of the stage, 1 for a block's path, 2 for an entry in it, ...


@dataclass(frozen=True)
class StageSummary:
    resolution: int
    rows: tuple[LayerRow, ...]

    @property
    def parameters(self) -> int:
        return sum(row.parameters or 0 for row in self.rows if row.depth == 0)

    @property
    def head_parameters(self) -> int:
        return sum(row.parameters or 0 for row in self.rows if row.head and row.depth == 0)


def _rows(layers: Sequence[LayerSpec], shape: Shape, context: BuildContext, head: bool, depth: int = 0) -> list[LayerRow]:
    """A row per entry; a block's row is followed by a row per path and the rows of the path's entries."""
    rows = []
    for layer, received, made in trace(layers, shape, context):
        options = layer.to_dict()
        activation = activation_label(options["activation"]) if "activation" in options else ""
        label = layer_type(layer.type).label(options)
        rows.append(LayerRow(f"{layer.name}: {label}" if layer.name else label, activation, format_shape(made),
                             layer_parameters(layer, received, context), head, depth))
        for path, inner in layer.paths():
            inner_rows = _rows(inner, received, context, head, depth + 2)
            out = output_shape(inner, received, context)
            rows.append(LayerRow(path + ("" if inner else " (identity)"), "", format_shape(out),
                                 sum(row.parameters or 0 for row in inner_rows if row.depth == depth + 2), head, depth + 1))
            rows += inner_rows
    return rows


def summarize(spec: NetworkSpec) -> list[StageSummary]:
    """One StageSummary per stage, in the spec's order, with every layer's output shape and parameters."""
    context = spec.context
    generator = spec.role == "generator"
    summaries = []
    for index, (stage, shapes) in enumerate(zip(spec.stages, stage_shapes(spec))):
        if generator:
            first = [LayerRow("latent z", "", str(spec.latent_size), None)] if index == 0 else []
            rows = first + _rows(stage.layers, shapes.layers_in, context, head=False) \
                + _rows(stage.head_layers, shapes.layers_out, context, head=True)
        else:
            first = [LayerRow("image", "", format_shape(image_shape(spec, 0)), None)] if index == 0 else []
            rows = first + _rows(stage.head_layers, image_shape(spec, index), context, head=True) \
                + _rows(stage.layers, shapes.layers_in, context, head=False)
        summaries.append(StageSummary(stage.resolution, tuple(rows)))
    return summaries


def mapping_rows(spec: NetworkSpec) -> tuple[LayerRow, ...]:
    """The rows of a generator's mapping network, from the latent to the style w (none without one)."""
    if spec.mapping is None:
        return ()
    return (LayerRow("latent z", "", str(spec.latent_size), None),
            *_rows(spec.mapping, (spec.latent_size,), spec.mapping_context, head=False))


def total_parameters(spec: NetworkSpec) -> int:
    """Every trainable value of the network: its stages' and its mapping network's."""
    return sum(stage.parameters for stage in summarize(spec)) + sum(
        row.parameters or 0 for row in mapping_rows(spec) if row.depth == 0)


def growing_head_parameters(spec: NetworkSpec, summaries: Sequence[StageSummary]) -> int:
    """Parameters of the image heads that only run while the network grows: every head but the one the
    full-depth StagePlan uses (the paper's Table 2 leaves them out)."""
    used = stage_plan(spec, len(spec.stages), fading=False).heads
    return sum(summary.head_parameters for index, summary in enumerate(summaries) if index not in used)
