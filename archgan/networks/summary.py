"""Per-layer summary of a built network, in the spirit of Table 2 of the ProGAN paper."""
from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from ..layers import BuildContext, layer_type
from ..layers.activations import activation_label
from ..spec.validate import format_shape, trace
from .growable import Discriminator, Generator


@dataclass(frozen=True)
class LayerRow:
    layer: str
    activation: str
    output_shape: str
    parameters: int | None  # None for the input row
    head: bool = False  # a to_rgb / from_rgb layer


@dataclass(frozen=True)
class StageSummary:
    resolution: int
    rows: tuple[LayerRow, ...]

    @property
    def parameters(self) -> int:
        return sum(row.parameters or 0 for row in self.rows)


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _rows(layers, modules: nn.Sequential, shape, context: BuildContext, head: bool) -> tuple[list[LayerRow], tuple]:
    rows = []
    for (layer, _, shape), module in zip(trace(layers, shape, context), modules):
        options = layer.to_dict()
        activation = activation_label(options["activation"]) if "activation" in options else ""
        rows.append(LayerRow(layer_type(layer.type).label(options), activation, format_shape(shape), _count(module), head))
    return rows, shape


def summarize(network: Generator | Discriminator) -> list[StageSummary]:
    """One StageSummary per stage, in the spec's order, with every layer's output shape and parameters."""
    spec = network.spec
    context = BuildContext(spec.image_channels)
    summaries = []
    if isinstance(network, Generator):
        shape: tuple = (spec.latent_size, 1, 1)
        for index, stage in enumerate(spec.stages):
            rows = [LayerRow("latent z", "", str(spec.latent_size), None)] if index == 0 else []
            stage_rows, shape = _rows(stage.layers, network.stage(index), shape, context, head=False)
            head_rows, _ = _rows(stage.rgb, network.head(index), shape, context, head=True)
            summaries.append(StageSummary(stage.resolution, tuple(rows + stage_rows + head_rows)))
    else:
        below = None
        for index, stage in enumerate(spec.stages):
            image = (spec.image_channels, stage.resolution, stage.resolution)
            rows = [LayerRow("image", "", format_shape(image), None)] if index == 0 else []
            head_rows, head_shape = _rows(stage.rgb, network.head(index), image, context, head=True)
            stage_rows, below = _rows(stage.layers, network.stage(index), below or head_shape, context, head=False)
            summaries.append(StageSummary(stage.resolution, tuple(rows + head_rows + stage_rows)))
    return summaries
