"""StagePlan: which stages and image heads run when a network has grown to `depth` stages, fading the
newest one in or not, and what shape enters each stage. The one place that knows the order of stages;
the validator, the networks' forward passes, DistributedDataParallel's active parts and `archgan show`
all ask it.

A generator runs its first `depth` stages (lowest resolution first) and ends in the to_rgb of the last
one; while fading, the to_rgb of the stage before it makes the old image, upsampled ×2. A discriminator
lists its stages as data flows (highest resolution first) and runs its last `depth`, starting with the
from_rgb of the first of them; while fading, the image downsampled ×½ enters the next stage through
that stage's own from_rgb. Both blend old and new paths with lerp(old, new, alpha) (networks/fade.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from ..layers import Shape, layer_type
from .model import NetworkSpec, walk_layers
from .shapes import output_shape


@dataclass(frozen=True)
class StagePlan:
    """What runs at one depth: stage and head indices into `spec.stages`."""

    depth: int
    fading: bool  # whether the old path runs (never at depth 1: there is nothing to fade from)
    stages: tuple[int, ...]  # in the order data flows through them
    head: int  # the stage whose to_rgb makes (or from_rgb reads) the image
    old_head: int | None  # while fading: the neighbouring stage whose head is on the resampled old path
    resolution: int  # the size of the image made or read
    styles: int = 0  # how many of a style-based generator's styles these stages read: the first so many

    @property
    def heads(self) -> tuple[int, ...]:
        return (self.head,) if self.old_head is None else (self.head, self.old_head)


def stage_plan(spec: NetworkSpec, depth: int, fading: bool) -> StagePlan:
    count = len(spec.stages)
    if not 1 <= depth <= count:
        raise ValueError(f"{spec.name}: depth must be between 1 and {count}, got {depth}")
    fading = fading and depth > 1
    if spec.role == "generator":
        stages, head, old_head = tuple(range(depth)), depth - 1, depth - 2
    else:
        top = count - depth
        stages, head, old_head = tuple(range(top, count)), top, top + 1
    styles = sum(style_counts(spec)[index] for index in stages) if spec.role == "generator" else 0
    return StagePlan(depth, fading, stages, head, old_head if fading else None, spec.stages[head].resolution, styles)


def style_counts(spec: NetworkSpec) -> tuple[int, ...]:
    """How many styles each stage reads (its layers' and its head's style layers). A generator numbers its
    style layers stage by stage in this order, a stage's layers before its head, so the stages of any depth
    read the first styles (the old head of a fade-in belongs to one of them)."""
    return tuple(sum("style" in layer_type(layer.type).reads for layer in walk_layers(stage.layers + stage.rgb))
                 for stage in spec.stages)


def every_plan(spec: NetworkSpec) -> Iterator[StagePlan]:
    """Every (depth, fading) a network can run at: depth 1, then each deeper stage fading and stable."""
    for depth in range(1, len(spec.stages) + 1):
        for fading in (True, False) if depth > 1 else (False,):
            yield stage_plan(spec, depth, fading)


@dataclass(frozen=True)
class StageShapes:
    """What enters a stage's layers and what they give (per sample, batch left out)."""

    layers_in: Shape
    layers_out: Shape


def image_shape(spec: NetworkSpec, index: int) -> Shape:
    """The image made by (generator) or read by (discriminator) stage `index`'s head."""
    resolution = spec.stages[index].resolution
    return (spec.image_channels, resolution, resolution)


def network_input_shape(spec: NetworkSpec) -> Shape:
    """What enters the first stage at full depth: the latent as a 1×1 map, or what the first from_rgb
    makes of the image (that from_rgb must state its channels: nothing above it tells them)."""
    if spec.role == "generator":
        return (spec.latent_size or 0, 1, 1)
    return output_shape(spec.stages[0].rgb, image_shape(spec, 0), spec.context)


def iter_stage_shapes(spec: NetworkSpec) -> Iterator[StageShapes]:
    """The shapes through every stage at full depth, in the spec's order; each stage gets what the one
    before hands on, so a deeper network never changes what a stage is built for."""
    context = spec.context
    shape = network_input_shape(spec)
    for stage in spec.stages:
        out = output_shape(stage.layers, shape, context)
        yield StageShapes(shape, out)
        shape = out


def stage_shapes(spec: NetworkSpec) -> tuple[StageShapes, ...]:
    return tuple(iter_stage_shapes(spec))
