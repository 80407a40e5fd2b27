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
- A generator returns one image batch; a generator whose spec declares per-stage outputs (MSG-GAN)
  returns a list of them, lowest resolution first, and its discriminator takes such a list.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..spec.model import NetworkSpec, stage_key
from ..spec.shapes import format_shape
from ..spec.stages import StagePlan, every_plan, image_shape, stage_shapes
from ..layers.modules.blocks import Chain, Inputs
from ..layers.modules.style import ReadsStyle
from .build import build_layers
from .fade import Alpha, downsample_for_old_path, fade_in, is_fading, upsample_old_image
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
        return self._plans[depth, is_fading(depth, alpha)]

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
            self.to_rgb[stage_key(stage.resolution)] = build_layers(stage.rgb, shapes.layers_out, context)
        self.mapping: Chain | None = None
        if spec.mapping is not None:
            self.mapping = build_layers(spec.mapping, (spec.latent_size,), spec.mapping_context)
            self.register_buffer("w_avg", torch.zeros(spec.style_size))
        for index, layer in enumerate(self.style_layers()):
            layer.style_index = index
        self.num_styles = len(self.style_layers())

    @property
    def latent_size(self) -> int:
        return self.spec.latent_size  # type: ignore[return-value]

    def style_layers(self) -> list[ReadsStyle]:
        """The layers that read a style, in the order of their styles: stage by stage, a stage's layers
        before its head (spec/stages.style_counts counts them in this order)."""
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
        """The to_rgb layers of stage `index`."""
        return self.to_rgb[stage_key(self.spec.stages[index].resolution)]

    def forward(self, z: torch.Tensor, depth: int | None = None, alpha: Alpha | None = None, *,
                truncation: Truncation | None = None, mixing: StyleMixing | None = None, **inputs: Any) -> torch.Tensor:
        depth, alpha = self.position(depth, alpha)
        plan = self._plan_at(depth, alpha)
        if z.ndim != 2 or z.shape[1] != self.latent_size:
            raise ValueError(f"{self.spec.name}: expects latents of shape [N, {self.latent_size}], got {list(z.shape)}")
        named = self._check_inputs(inputs, z.shape[0])
        if self.mapping is not None or truncation is not None or mixing is not None:
            named = {**named, "style": self.styles(z, named, truncation, mixing)}
        x = z.reshape(z.shape[0], -1, 1, 1)
        for index in plan.stages[:-1]:
            x = self.stage(index)(x, named)
        image = self.head(plan.head)(self.stage(plan.head)(x, named), named)
        if plan.old_head is None:
            return image
        old = upsample_old_image(self.head(plan.old_head)(x, named), self.spec.fade_resample)
        return fade_in(old, image, alpha)


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
            self.from_rgb[stage_key(stage.resolution)] = build_layers(stage.rgb, image_shape(spec, index), context)
            self.stages[stage_key(stage.resolution)] = build_layers(stage.layers, shapes.layers_in, context)

    def head(self, index: int) -> Chain:
        """The from_rgb layers of stage `index`."""
        return self.from_rgb[stage_key(self.spec.stages[index].resolution)]

    def forward(self, images: torch.Tensor, depth: int | None = None, alpha: Alpha | None = None, *,
                logits: bool = False, **inputs: Any) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        depth, alpha = self.position(depth, alpha)
        plan = self._plan_at(depth, alpha)
        expected = image_shape(self.spec, plan.head)
        if tuple(images.shape[1:]) != expected:
            raise ValueError(
                f"{self.spec.name}: at depth {plan.depth} expects images of shape [N, {format_shape(expected)}], "
                f"got {list(images.shape)}"
            )
        named = self._check_inputs(inputs, images.shape[0])
        x = self.stage(plan.head)(self.head(plan.head)(images, named), named)
        if plan.old_head is not None:
            old = self.head(plan.old_head)(downsample_for_old_path(images, self.spec.fade_resample), named)
            x = fade_in(old, x, alpha)
        for index in plan.stages[1:]:
            x = self.stage(index)(x, named)
        if self.spec.classifier is None:
            if logits:
                raise ValueError(f"{self.spec.name}: only a discriminator ending in an auxiliary_classifier gives "
                                 "class logits")
            return x.reshape(images.shape[0])
        return (x[:, 0], x[:, 1:]) if logits else x[:, 0]


def build_network(spec: NetworkSpec) -> Generator | Discriminator:
    """The growable network a spec describes."""
    return Generator(spec) if spec.role == "generator" else Discriminator(spec)
