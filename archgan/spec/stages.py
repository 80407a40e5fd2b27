"""StagePlan: which stages and image heads run when a network has grown to `depth` stages, fading the
newest one in or not, and what shape enters each stage. The one place that knows the order of stages
and what each image mode (the spec's `images`) runs; the validator, the networks' forward passes,
DistributedDataParallel's active parts, the memory estimate and `archgan show` all ask it.

A generator runs its first `depth` stages (lowest resolution first). With images `last` it ends in the
to_rgb of the last one; while fading, the to_rgb of the stage before it makes the old image, upsampled ×2.
With `skip` every stage's to_rgb runs and their images are summed, each upsampled to the next size; while
fading, the newest stage's image is added times alpha. With `all` every stage's to_rgb gives an image.

A discriminator lists its stages as data flows (highest resolution first) and runs its last `depth`. With
images `last` it starts with the from_rgb of the first of them; while fading, the image downsampled ×½
enters the next stage through that stage's own from_rgb. With `skip` and `all` every stage's from_rgb reads
the image at its size, its features merged (`merge`) with those the stage above hands down. Fading blends
old and new paths with lerp(old, new, alpha) (networks/fade.py); skip discriminators and all networks do not
fade: their lower stages are part of every pass already.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from ..layers import Shape, layer_type
from .errors import SpecError
from .model import RGB_KEY, NetworkSpec, walk_layers
from .shapes import format_shape, output_shape


@dataclass(frozen=True)
class StagePlan:
    """What runs at one depth: stage and head indices into `spec.stages`."""

    depth: int
    fading: bool  # whether the old path runs (never at depth 1: there is nothing to fade from)
    stages: tuple[int, ...]  # in the order data flows through them
    head: int  # the newest stage: its head makes (or reads) the image at the plan's resolution
    old_head: int | None  # while fading: the neighbouring stage whose head is on the resampled old path
    heads: tuple[int, ...]  # every stage whose image head runs
    resolution: int  # the size of the (largest) image made or read
    styles: int = 0  # how many of a style-based generator's styles these stages read: the first so many


def stage_plan(spec: NetworkSpec, depth: int, fading: bool) -> StagePlan:
    """The plan at (depth, fading), whether or not the network can run it (`plan_problem` says)."""
    count = len(spec.stages)
    if not 1 <= depth <= count:
        raise ValueError(f"{spec.name}: depth must be between 1 and {count}, got {depth}")
    fading = fading and depth > 1
    if spec.role == "generator":
        stages, head, old_head = tuple(range(depth)), depth - 1, depth - 2
    else:
        top = count - depth
        stages, head, old_head = tuple(range(top, count)), top, top + 1
    if spec.images == "last":
        heads = (head, old_head) if fading else (head,)
    else:
        heads = tuple(index for index in stages if spec.stages[index].rgb is not None)
    styles = 0
    if spec.role == "generator":  # one past the last style index the running layers and heads read
        layers_start, head_start, counts = style_layout(spec)
        styles = max([layers_start[index] + counts[index][0] for index in stages]
                     + [head_start[index] + counts[index][1] for index in heads])
    return StagePlan(depth, fading, stages, head, old_head if fading else None, heads,
                     spec.stages[head].resolution, styles)


def plan_problem(spec: NetworkSpec, depth: int, fading: bool) -> str | None:
    """Why the network cannot run at (depth, fading), in words a user can act on; None when it can."""
    plan = stage_plan(spec, depth, fading)
    size = f"{plan.resolution}×{plan.resolution}"
    if plan.fading and (spec.images == "all" or (spec.role == "discriminator" and spec.images == "skip")):
        return (f"a network with images: {spec.images} does not fade in (its lower stages take part in every pass): "
                f"give the {size} stage fade_kimg 0")
    missing = [index for index in ((plan.head, plan.old_head) if plan.fading else (plan.head,))
               if spec.stages[index].rgb is None]
    if missing:
        resolution, head = spec.stages[missing[0]].resolution, RGB_KEY[spec.role]
        return (f"the {resolution}×{resolution} stage has no image head (its {head} is null), which "
                f"{'fading into' if plan.fading else 'running at'} {size} needs: train from the full depth only "
                "(give the lower stages no images), or give that stage a head")
    if spec.role == "discriminator" and spec.images != "last":
        shapes = stage_shapes(spec)[plan.head]
        if shapes.head_out != shapes.layers_in:
            joined = "joined to" if spec.merge == "concat" else "added to"
            return (f"at {size} the stage's from_rgb gives {format_shape(shapes.head_out)} alone, but the stage takes "
                    f"{format_shape(shapes.layers_in)} (its from_rgb {joined} the features from the stage above): "
                    "this discriminator runs at its full depth only; give the lower stages no images")
    return None


def every_plan(spec: NetworkSpec) -> Iterator[StagePlan]:
    """Every (depth, fading) the network can run at: depth 1, then each deeper stage fading and stable."""
    for depth in range(1, len(spec.stages) + 1):
        for fading in (True, False) if depth > 1 else (False,):
            if plan_problem(spec, depth, fading) is None:
                yield stage_plan(spec, depth, fading)


def style_counts(spec: NetworkSpec) -> tuple[tuple[int, int], ...]:
    """How many style layers each stage's layers and its image head hold."""
    def count(layers) -> int:
        return sum("style" in layer_type(layer.type).reads for layer in walk_layers(layers))
    return tuple((count(stage.layers), count(stage.head_layers)) for stage in spec.stages)


def style_layout(spec: NetworkSpec) -> tuple[tuple[int, ...], tuple[int, ...], tuple[tuple[int, int], ...]]:
    """The index of the first style each stage's layers read and the first its to_rgb reads, and the
    counts (style_counts). Styles are numbered stage by stage, a stage's layers before its head, so the
    stages of any depth read the first styles. With to_rgb_styles `next` a to_rgb reads the indices the next
    stage's layers start at (StyleGAN2: its ToRGB shares the w of the next block's first convolution)."""
    counts = style_counts(spec)
    layers_start, head_start, index = [], [], 0
    for layers, head in counts:
        layers_start.append(index)
        index += layers
        head_start.append(index)
        if spec.to_rgb_styles == "own":
            index += head
    return tuple(layers_start), tuple(head_start), counts


def total_styles(spec: NetworkSpec) -> int:
    """How many styles the whole generator reads (StyleGAN: 18 at 1024², StyleGAN2: its num_ws, 18)."""
    return stage_plan(spec, len(spec.stages), fading=False).styles if spec.role == "generator" else 0


@dataclass(frozen=True)
class StageShapes:
    """What enters a stage's layers and what they give (per sample, batch left out), and what its image
    head gives (None without a head; a generator's head gives the image)."""

    layers_in: Shape
    layers_out: Shape
    head_out: Shape | None


def image_shape(spec: NetworkSpec, index: int) -> Shape:
    """The image made by (generator) or read by (discriminator) stage `index`'s head."""
    resolution = spec.stages[index].resolution
    return (spec.image_channels, resolution, resolution)


def merged_shape(spec: NetworkSpec, index: int, head: Shape, above: Shape) -> Shape:
    """What stage `index` of a skip or all discriminator takes: its from_rgb features joined with the stage
    above's; a SpecError at its from_rgb when they cannot be joined."""
    stage = spec.stages[index]
    size = f"{stage.resolution}×{stage.resolution}"
    if spec.merge == "sum" and head != above:
        problem = "merge: sum adds them, so they must be the same"
    elif spec.merge == "concat" and (len(head) != 3 or len(above) != 3 or head[1:] != above[1:]):
        problem = "merge: concat joins the channels of maps of the same size"
    else:
        return head if spec.merge == "sum" else (head[0] + above[0], *head[1:])
    where = stage.rgb[0].location if stage.rgb else stage.location.child("from_rgb")
    raise SpecError.single(where, f"the from_rgb of the {size} stage gives "
                           f"{format_shape(head)} but the stage above hands down {format_shape(above)}; {problem}",
                           found=format_shape(head))


def iter_stage_shapes(spec: NetworkSpec) -> Iterator[StageShapes]:
    """The shapes through every stage at full depth, in the spec's order; each stage gets what the one
    before hands on (merged with its from_rgb features in a skip or all discriminator), so a deeper
    network never changes what a stage is built for."""
    context = spec.context
    generator = spec.role == "generator"
    shape: Shape | None = (spec.latent_size or 0, 1, 1) if generator else None
    for index, stage in enumerate(spec.stages):
        head_out = None
        if not generator and stage.rgb is not None:
            head_out = output_shape(stage.rgb, image_shape(spec, index), context)
            if shape is None:  # the first stage reads its from_rgb's features only
                shape = head_out
            elif spec.images != "last":
                shape = merged_shape(spec, index, head_out, shape)
        if shape is None:
            raise SpecError.single(stage.location.child("from_rgb"), "the first (highest-resolution) discriminator "
                                   "stage needs a from_rgb: nothing else gives it its input",
                                   hint="give it e.g. [{type: from_rgb, channels: 16}]")
        out = output_shape(stage.layers, shape, context)
        if generator and stage.rgb is not None:
            head_out = output_shape(stage.rgb, out, context)
        yield StageShapes(shape, out, head_out)
        shape = out


def stage_shapes(spec: NetworkSpec) -> tuple[StageShapes, ...]:
    return tuple(iter_stage_shapes(spec))
