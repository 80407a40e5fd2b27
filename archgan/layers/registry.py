"""The layer registry: one entry per layer type, holding everything the rest of archgan needs.

A layer type is registered once, in its family's file (`layers/<family>.py`), together with its
options (each with a JSON Schema fragment, a default and a docs line), its shape rule, its parameter
count, its capabilities and its module builder. The schemas in `schemas/`, the validator, the builder,
`archgan show` and the layer reference all read this table. Nothing here imports torch: the modules
live in `layers/modules/<family>.py` and are imported only when a network is built.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping

from ..options import Option, options_schema

if TYPE_CHECKING:
    from torch import nn

Shape = tuple[int, ...]
"""A sample's shape without the batch dimension: (C, H, W) for feature maps, (F,) for vectors."""

Options = Mapping[str, Any]

MAX_WIDTH = 2**14
"""Upper bound of channels, features and latent sizes: 32× ProGAN's widest layer (512). Any larger width is
a typo, and a 3×3 convolution this wide already holds 2.4 billion weights."""
MAX_SIZE = 2**13
"""Upper bound of resolutions and of every spatial option (kernel, stride, padding, factor): 8× ProGAN's 1024."""
WIDTH = {"type": "integer", "minimum": 1, "maximum": MAX_WIDTH}
POSITIVE_SIZE = {"type": "integer", "minimum": 1, "maximum": MAX_SIZE}
NON_NEGATIVE_SIZE = {"type": "integer", "minimum": 0, "maximum": MAX_SIZE}


class ShapeError(ValueError):
    """A layer cannot take the input it is given; the message says why in the user's terms."""


def feature_map(shape: Shape, layer: str) -> tuple[int, int, int]:
    """The (channels, height, width) of an input that must be a map, not a vector."""
    if len(shape) != 3:
        raise ShapeError(
            f"{layer} needs a feature map (channels×height×width) as input, but receives a vector of "
            f"{shape[0]} features; give the dense layer before it a `reshape: [height, width]`"
        )
    return shape  # type: ignore[return-value]


def no_parameters(options: Options, shape: Shape, context: BuildContext) -> int:
    """The parameter rule of layers without weights (activations, resampling, pixelnorm, ...)."""
    return 0


def same_shape(options: Options, shape: Shape, context: BuildContext) -> Shape:
    """The shape rule of layers that keep their input's shape."""
    return shape


@dataclass(frozen=True)
class BuildContext:
    """Facts about the whole network that a few layer types need (to_rgb emits the image channels)."""

    image_channels: int


@dataclass(frozen=True)
class LayerType:
    """A registered layer type.

    output_shape(options, input_shape, context) -> output shape; raises ShapeError for an input it cannot take.
    parameters(options, input_shape, context) -> how many trainable values the module holds (without
        building it: `archgan show` and `validate` count from this; a test checks it against the modules).
    build(options, input_shape, context) -> the nn.Module (imports torch; see archgan.lazy.deferred).
    label(options) -> the short text `archgan show` prints (e.g. 'conv 3×3').
    batch_group(options) -> the number of samples the layer reads together (minibatch stddev), which
        every batch and every process's share of it must keep whole; None for layers that read one sample.
    inner_values(options, input_shape, context) -> values per sample the module keeps for the backward pass
        besides its output and its activation's input (attention's score maps), for the memory estimate
        of `archgan validate` and `show` (archgan/spec/memory.py); None for layers that keep nothing else.
    """

    name: str
    family: str
    doc: str
    options: Mapping[str, Option]
    output_shape: Callable[[Options, Shape, BuildContext], Shape]
    build: Callable[[Options, Shape, BuildContext], nn.Module]
    parameters: Callable[[Options, Shape, BuildContext], int]
    example: Mapping[str, Any]
    label: Callable[[Options], str] = field(default=lambda options: options["type"])
    batch_group: Callable[[Options], int] | None = None
    inner_values: Callable[[Options, Shape, BuildContext], int] | None = None

    def defaults(self) -> dict[str, Any]:
        return {name: option.default for name, option in self.options.items() if not option.required}

    def option_schema(self, strict: bool) -> dict[str, Any]:
        """JSON Schema of an entry of this type; `strict` also requires the REQUIRED options
        (used after defaults and templates are expanded, when every option must be present)."""
        return options_schema(self.options, strict, const_type=self.name) | {"description": self.doc}


_REGISTRY: dict[str, LayerType] = {}


def register(layer_type: LayerType) -> LayerType:
    """Add a layer type; names are unique."""
    if layer_type.name in _REGISTRY:
        raise ValueError(f"layer type '{layer_type.name}' is registered twice")
    _REGISTRY[layer_type.name] = layer_type
    return layer_type


def layer_types() -> Mapping[str, LayerType]:
    """All registered layer types by name (importing archgan.layers registers the built-in ones)."""
    return _REGISTRY


def layer_type(name: str) -> LayerType:
    return _REGISTRY[name]


def names_in_family(family: str) -> list[str]:
    return sorted(name for name, entry in _REGISTRY.items() if entry.family == family)
