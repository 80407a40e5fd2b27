"""What one sample's forward pass keeps for the backward pass at each depth, from the spec alone (no
torch): the activation part of the memory estimate `archgan validate` and `archgan show` make
(archgan/training/memory.py adds weights, optimizer state and the batch).

At a depth the network runs the stages and image heads its StagePlan names (while fading, both heads
and the resampled old image). Each layer keeps its output (the next layer's input), once more when it
has a non-linear activation (the activation's input), plus what its type's `inner_values` rule says
(attention's query, key and value maps and score maps).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from math import prod

from ..layers import BuildContext, Shape, layer_type
from .model import LayerSpec, NetworkSpec
from .shapes import trace
from .stages import image_shape, stage_plan, stage_shapes
from .summary import summarize


@dataclass(frozen=True)
class StageActivations:
    """One depth, named by the resolution of its newest stage, fading in (the larger case)."""

    resolution: int
    values: int  # kept for the backward pass, per sample
    largest: int  # elements of the largest single tensor, per sample
    trained_parameters: int  # of the stages and heads that run: they get gradients and optimizer state


def _layers(layers: Sequence[LayerSpec], shape: Shape, context: BuildContext) -> tuple[int, int]:
    """(values kept, largest tensor) of one layer list, per sample; a block keeps what its paths keep."""
    kept = largest = 0
    for layer, received, made in trace(layers, shape, context):
        options = layer.to_dict()
        nonlinear = options.get("activation", {"type": "linear"})["type"] != "linear"
        rule = layer_type(layer.type).inner_values
        own = rule(options, received, context) if rule else 0
        paths = [_layers(path, received, context) for _, path in layer.paths()]
        kept += prod(made) * (2 if nonlinear else 1) + own + sum(path_kept for path_kept, _ in paths)
        largest = max(largest, prod(made), own, *(path_largest for _, path_largest in paths))
    return kept, largest


def stage_activations(spec: NetworkSpec) -> list[StageActivations]:
    """One entry per depth, from one stage up to all of them (lowest resolution first)."""
    context = spec.context
    shapes, summaries = stage_shapes(spec), summarize(spec)
    generator = spec.role == "generator"
    result = []
    for depth in range(1, len(spec.stages) + 1):
        plan = stage_plan(spec, depth, fading=True)
        parts = [_layers(spec.stages[index].layers, shapes[index].layers_in, context) for index in plan.stages]
        for head in plan.heads:
            stage = spec.stages[head]
            head_input = shapes[head].layers_out if generator else image_shape(spec, head)
            parts.append(_layers(stage.head_layers, head_input, context))
            parts.append((prod(image_shape(spec, head)), prod(image_shape(spec, head))))  # the image made or read
        trained = sum(summaries[index].parameters - summaries[index].head_parameters for index in plan.stages) \
            + sum(summaries[head].head_parameters for head in plan.heads)
        result.append(StageActivations(plan.resolution, sum(kept for kept, _ in parts), max(big for _, big in parts),
                                       trained))
    return result
