"""Growable generator and discriminator: every stage is built up front; `depth` chooses how many run
and `alpha` fades the newest one in (the StagePlan says which stages and heads run, networks/fade.py
how the paths blend). Parameter names never change as the network grows, so one checkpoint format
serves every stage.

The forward contract, which every architecture keeps:

    G(z, depth=None, alpha=None, **inputs) -> images [N, C, R, R]
    D(images, depth=None, alpha=None, **inputs) -> scores [N]
    D(images, depth, alpha, logits=True, **inputs) -> (scores [N], class logits [N, classes]) for a
        discriminator that ends in an auxiliary_classifier (AC-GAN)

- `depth` (1 … number of stages) and `alpha` (0 … 1, a float or a 0-d tensor) say where the network
  stands in growing; R is the resolution of stage `depth`. Left out, they are where the network was left:
  `default_depth` and `default_alpha` (all stages, 1, unless a loader set them from the run that trained
  it); a depth given without alpha means that stage, stable.
- `inputs` are named inputs beside z or the images, passed by keyword: today the class label
  (`label`, [N] integers from 0 to classes − 1) of a network whose spec declares `inputs: {label: ...}`.
  A network takes exactly the inputs its spec declares: a missing one or any other is refused with the
  list of those it takes. The layers that read one get it through the Chain of their stage.
- A generator with a mapping network (StyleGAN) makes w = mapping(z) (the label, if declared, reaches the
  mapping's layers too) and hands every style layer its own copy as the named input `style` [N, L, w];
  `truncation=Truncation(psi, cutoff)` (sampling) and `mixing=StyleMixing(latents, cutoff)` (training)
  change those copies (networks/styles.py). `w_avg`, the tracked average of w, is a buffer: it is saved
  with the weights and copied into the generator's average.
- What images a network makes or reads is its spec's `images` (spec/model.IMAGE_MODES): a generator with
  `all` (MSG-GAN) returns a list, one image batch per stage that runs, lowest resolution first, and a
  discriminator with `all` takes such a list; every other network returns or takes one image batch
  (networks/images.final_image picks the largest of either).
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..spec.model import NetworkSpec, stage_key
from ..spec.shapes import format_shape
from ..spec.stages import StagePlan, every_plan, image_shape, plan_problem, stage_shapes, style_layout
from ..layers.modules.blocks import Chain, Inputs
from ..layers.modules.style import ReadsStyle
from .build import build_layers
from .fade import Alpha, downsample_for_old_path, fade_in, is_fading, upsample_old_image
from .images import Images
from .styles import StyleMixing, Truncation, mix, truncate


class _Growable(nn.Module):
    def __init__(self, spec: NetworkSpec):
        super().__init__()
        self.spec = spec
        self.num_stages = len(spec.stages)
        self.default_depth = self.num_stages  # what `depth=None` means; the loaders set it
        self.default_alpha: Alpha = 1.0
        self.trained_depth: int | None = None  # how far training grew these weights, when the file says
        self._plans = {(plan.depth, plan.fading): plan for plan in every_plan(spec)}

    def position(self, depth: int | None, alpha: Alpha | None) -> tuple[int, Alpha]:
        """(depth, alpha) to run at: the defaults where left out (see the module's docstring)."""
        if depth is None:
            return self.check_depth(None), self.default_alpha if alpha is None else alpha
        return self.check_depth(depth), 1.0 if alpha is None else alpha

    def plan(self, depth: int | None, alpha: Alpha | None = None) -> StagePlan:
        """What runs at `depth` with this `alpha` (the old path only while fading)."""
        depth, alpha = self.position(depth, alpha)
        return self._plan_at(depth, alpha)

    def _plan_at(self, depth: int, alpha: Alpha) -> StagePlan:
        key = depth, is_fading(depth, alpha)
        if key not in self._plans:
            raise ValueError(f"{self.spec.name}: {plan_problem(self.spec, *key)}")
        return self._plans[key]

    def check_depth(self, depth: int | None) -> int:
        depth = self.default_depth if depth is None else depth
        if not 1 <= depth <= self.num_stages:
            raise ValueError(f"{self.spec.name}: depth must be between 1 and {self.num_stages}, got {depth}")
        return depth

    def _check_inputs(self, inputs: dict[str, Any], batch: int) -> Inputs:
        """The named inputs, once they are the ones the spec declares; a label on the CPU is also checked
        against the class count (on a GPU that would wait for the device; its embedding then fails)."""
        declared = self.spec.inputs
        given = {name: value for name, value in inputs.items() if value is not None}
        unknown = sorted(set(inputs) - set(declared))
        missing = [name for name in declared if name not in given]
        if unknown or missing:
            takes = f"takes {', '.join(f'{name}=' for name in declared)}" if declared else "takes no named inputs"
            wrong = (f"got {', '.join(unknown)}" if unknown else "") + ("; " if unknown and missing else "") \
                + (f"{', '.join(missing)} missing" if missing else "")
            raise ValueError(f"{self.spec.name}: this {self.spec.role} {takes} ({wrong})"
                             + (f"; a label is a class per sample, 0 to {self.spec.classes - 1}" if declared else ""))
        label = given.get("label")
        if label is not None:
            if label.shape != (batch,) or label.dtype not in (torch.int64, torch.int32):
                raise ValueError(f"{self.spec.name}: label must be {batch} integers (one class per sample), got "
                                 f"{label.dtype} of shape {list(label.shape)}")
            tracing = torch.jit.is_tracing() or torch.compiler.is_compiling()  # the values are not known then
            if label.device.type == "cpu" and not tracing and len(label) and (
                    int(label.min()) < 0 or int(label.max()) >= self.spec.classes):
                raise ValueError(f"{self.spec.name}: labels must be classes 0 to {self.spec.classes - 1}, got "
                                 f"{int(label.min())} to {int(label.max())}")
        return given

    def stage(self, index: int) -> Chain:
        """The layers of stage `index` in the spec's order."""
        return self.stages[stage_key(self.spec.stages[index].resolution)]

    def resolution(self, depth: int | None = None) -> int:
        """Size of the images made (generator) or read (discriminator) when `depth` stages run."""
        return self.plan(depth, 1.0).resolution


class Generator(_Growable):
    """z [N, latent] -> images [N, C, R, R] with R the resolution of stage `depth`."""

    def __init__(self, spec: NetworkSpec):
        super().__init__(spec)
        if spec.role != "generator" or spec.latent_size is None:
            raise ValueError(f"{spec.name} is a {spec.role} spec, not a generator spec")
        context = spec.context
        self.stages = nn.ModuleDict()
        self.to_rgb = nn.ModuleDict()
        for stage, shapes in zip(spec.stages, stage_shapes(spec)):
            self.stages[stage_key(stage.resolution)] = build_layers(stage.layers, shapes.layers_in, context)
            if stage.rgb is not None:
                self.to_rgb[stage_key(stage.resolution)] = build_layers(stage.rgb, shapes.layers_out, context)
        self.mapping: Chain | None = None
        if spec.mapping is not None:
            self.mapping = build_layers(spec.mapping, (spec.latent_size,), spec.mapping_context)
            self.register_buffer("w_avg", torch.zeros(spec.style_size))
        layers_start, head_start, _ = style_layout(spec)
        for index in range(self.num_stages):
            for first, chain in ((layers_start[index], self.stage(index)), (head_start[index], self.head(index))):
                for number, layer in enumerate(m for m in chain.modules() if isinstance(m, ReadsStyle)):
                    layer.style_index = first + number
        self.num_styles = self.plan(self.num_stages, 1.0).styles

    @property
    def latent_size(self) -> int:
        return self.spec.latent_size  # type: ignore[return-value]

    def style_layers(self) -> list[ReadsStyle]:
        """The layers that read a style, in the order of their styles: stage by stage, a stage's layers
        before its head (spec/stages.style_layout numbers them)."""
        return [module for index in range(self.num_stages) for chain in (self.stage(index), self.head(index))
                for module in chain.modules() if isinstance(module, ReadsStyle)]

    def styles(self, z: torch.Tensor, inputs: Inputs, truncation: Truncation | None = None,
               mixing: StyleMixing | None = None) -> torch.Tensor:
        """The style of every style layer [N, L, w]: w = mapping(z), mixed and truncated as asked."""
        if self.mapping is None:
            raise ValueError(f"{self.spec.name}: truncation and style mixing need a mapping network (StyleGAN's); "
                             "this generator has none")
        styles = self.mapping(z, inputs).unsqueeze(1).expand(-1, self.num_styles, -1)
        if mixing is not None:
            styles = mix(styles, self.mapping(mixing.latents, inputs), mixing.cutoff)
        return styles if truncation is None else truncate(styles, self.w_avg, truncation)

    def head(self, index: int) -> Chain:
        """The to_rgb layers of stage `index` (empty for a stage without a head)."""
        key = stage_key(self.spec.stages[index].resolution)
        return self.to_rgb[key] if key in self.to_rgb else Chain()

    def forward(self, z: torch.Tensor, depth: int | None = None, alpha: Alpha | None = None, *,
                truncation: Truncation | None = None, mixing: StyleMixing | None = None,
                styles: torch.Tensor | None = None, **inputs: Any) -> Images:
        """`styles` [N, num_styles, w]: given instead of mapping z (the path length penalty differentiates
        the images w.r.t. them; a user may edit them); z then only gives the batch size."""
        depth, alpha = self.position(depth, alpha)
        plan = self._plan_at(depth, alpha)
        if z.ndim != 2 or z.shape[1] != self.latent_size:
            raise ValueError(f"{self.spec.name}: expects latents of shape [N, {self.latent_size}], got {list(z.shape)}")
        named = self._check_inputs(inputs, z.shape[0])
        if styles is not None:
            expected = (z.shape[0], self.num_styles, self.spec.style_size)
            if self.mapping is None:
                raise ValueError(f"{self.spec.name}: this generator has no mapping network: it takes no styles")
            if truncation is not None or mixing is not None or tuple(styles.shape) != expected:
                raise ValueError(f"{self.spec.name}: styles are given as [N, {self.num_styles}, "
                                 f"{self.spec.style_size}] (got {list(styles.shape)}), without truncation or mixing")
            named = {**named, "style": styles}
        elif self.mapping is not None or truncation is not None or mixing is not None:
            named = {**named, "style": self.styles(z, named, truncation, mixing)}
        x = z.reshape(z.shape[0], -1, 1, 1)
        if self.spec.images == "last":
            for index in plan.stages[:-1]:
                x = self.stage(index)(x, named)
            image = self.head(plan.head)(self.stage(plan.head)(x, named), named)
            if plan.old_head is None:
                return image
            old = upsample_old_image(self.head(plan.old_head)(x, named), self.spec.fade_resample)
            return fade_in(old, image, alpha)
        images: list[torch.Tensor] = []
        for index in plan.stages:
            x = self.stage(index)(x, named)
            images.append(self.head(index)(x, named))
        if self.spec.images == "all":
            return images
        image = images[0]  # skip: each stage's image added to the sum so far, brought up to its size
        for index, new in enumerate(images[1:], start=1):
            old = upsample_old_image(image, self.spec.fade_resample)
            image = old + (new * alpha if index == plan.head and plan.fading else new)
        return image


class Discriminator(_Growable):
    """images [N, C, R, R] -> scores [N]; R must be the resolution of the stage `depth` starts at.
    Stages run in data-flow order (highest resolution first), so with depth d the last d run."""

    def __init__(self, spec: NetworkSpec):
        super().__init__(spec)
        if spec.role != "discriminator":
            raise ValueError(f"{spec.name} is a {spec.role} spec, not a discriminator spec")
        context = spec.context
        self.stages = nn.ModuleDict()
        self.from_rgb = nn.ModuleDict()
        for index, (stage, shapes) in enumerate(zip(spec.stages, stage_shapes(spec))):
            if stage.rgb is not None:
                self.from_rgb[stage_key(stage.resolution)] = build_layers(stage.rgb, image_shape(spec, index), context)
            self.stages[stage_key(stage.resolution)] = build_layers(stage.layers, shapes.layers_in, context)

    def head(self, index: int) -> Chain:
        """The from_rgb layers of stage `index` (empty for a stage without a head)."""
        key = stage_key(self.spec.stages[index].resolution)
        return self.from_rgb[key] if key in self.from_rgb else Chain()

    def _per_stage(self, images: Images, plan: StagePlan) -> list[torch.Tensor]:
        """The image each stage of `plan` reads, in the stages' order (highest resolution first), once their
        shapes are those expected: a list given lowest resolution first (images: all), or one image,
        downsampled for each stage below the first (images: skip; images: last reads only the first)."""
        expected = [image_shape(self.spec, index) for index in plan.stages]
        if self.spec.images == "all":
            given = list(reversed(images)) if isinstance(images, (list, tuple)) else None
        else:
            given = [images] if isinstance(images, torch.Tensor) else None
        shapes = [tuple(image.shape[1:]) for image in given or []]
        wanted = expected if self.spec.images == "all" else expected[:1]
        if shapes != wanted:
            described = ", ".join(f"[N, {format_shape(shape)}]" for shape in reversed(wanted))
            got = (", ".join(str(list(image.shape)) for image in reversed(given)) if given is not None
                   else type(images).__name__)
            what = f"a list of images {described} (lowest resolution first)" if self.spec.images == "all" \
                else f"images of shape {described}"
            raise ValueError(f"{self.spec.name}: at depth {plan.depth} expects {what}, got {got}")
        while self.spec.images == "skip" and len(given) < len(plan.stages):  # each stage reads it at its size
            given.append(downsample_for_old_path(given[-1], self.spec.fade_resample))
        return given

    def forward(self, images: Images, depth: int | None = None, alpha: Alpha | None = None, *,
                logits: bool = False, **inputs: Any) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        depth, alpha = self.position(depth, alpha)
        plan = self._plan_at(depth, alpha)
        per_stage = self._per_stage(images, plan)
        batch = per_stage[0].shape[0]
        named = self._check_inputs(inputs, batch)
        if self.spec.images == "last":
            x = self.stage(plan.head)(self.head(plan.head)(per_stage[0], named), named)
            if plan.old_head is not None:
                old = self.head(plan.old_head)(downsample_for_old_path(per_stage[0], self.spec.fade_resample), named)
                x = fade_in(old, x, alpha)
            for index in plan.stages[1:]:
                x = self.stage(index)(x, named)
        else:
            x = None
            for index, image in zip(plan.stages, per_stage):
                if index in plan.heads:
                    features = self.head(index)(image, named)
                    x = features if x is None else self.merge(features, x)
                x = self.stage(index)(x, named)
        if self.spec.classifier is None:
            if logits:
                raise ValueError(f"{self.spec.name}: only a discriminator ending in an auxiliary_classifier gives "
                                 "class logits")
            return x.reshape(batch)
        return (x[:, 0], x[:, 1:]) if logits else x[:, 0]

    def merge(self, features: torch.Tensor, above: torch.Tensor) -> torch.Tensor:
        """A stage's from_rgb features joined with those from the stage above, as the spec's `merge` says."""
        return features + above if self.spec.merge == "sum" else torch.cat([features, above], dim=1)


def build_network(spec: NetworkSpec) -> Generator | Discriminator:
    """The growable network a spec describes."""
    return Generator(spec) if spec.role == "generator" else Discriminator(spec)
