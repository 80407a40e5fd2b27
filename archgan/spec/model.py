"""The validated, fully expanded form of an architecture file: plain frozen dataclasses.

Templates, defaults and inferred values are already resolved here, so `to_json()` writes every
option explicitly; that canonical JSON goes into every checkpoint and loads back to an equal spec.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Literal, Mapping

from ..layers.registry import BuildContext, layer_type, plugins_of
from ..layers.resample import DOWNSAMPLE_MODES, UPSAMPLE_MODES
from .errors import Location

Role = Literal["generator", "discriminator"]
RGB_KEY: Mapping[Role, str] = {"generator": "to_rgb", "discriminator": "from_rgb"}
"""The image head of a stage: a generator stage ends in to_rgb, a discriminator stage starts with from_rgb."""
FADE_RESAMPLE: Mapping[Role, tuple[str, ...]] = {"generator": UPSAMPLE_MODES, "discriminator": DOWNSAMPLE_MODES}
"""How images are resampled between stages, the first being the default (ProGAN's): the generator
upsamples the previous stage's image ×2 (the old path of a fade-in; a skip generator's running image), the
discriminator downsamples its input image ×½ (the old path; a skip discriminator's image for each stage)."""
IMAGE_MODES: Mapping[Role, tuple[str, ...]] = {"generator": ("last", "skip", "all"),
                                                "discriminator": ("last", "skip", "all")}
"""Which images a network makes or reads, the first being the default:
- last: the newest stage's image head only, fading in from the stage before (ProGAN).
- skip: a generator sums every stage's to_rgb image, each upsampled to the next stage's size (StyleGAN2's
  skip generator); a discriminator reads one image and every stage's from_rgb reads it at the stage's size,
  merged into what the stage above hands down (StyleGAN2's skip discriminator).
- all: a generator gives every stage's image, lowest resolution first; a discriminator reads such a list,
  each image through its stage's from_rgb, merged into what the stage above hands down (MSG-GAN)."""
MERGES = ("concat", "sum")
"""How a skip or all discriminator joins a stage's from_rgb features with the features from the stage above:
concat puts the from_rgb channels first (MSG-GAN), sum adds them (StyleGAN2)."""
TO_RGB_STYLES = ("own", "next")
"""How a style-based generator numbers the styles of its to_rgb layers: each its own (StyleGAN), or the index
the next stage's first style layer reads, the last stage's to_rgb one more (StyleGAN2's num_ws)."""


CLASSIFIER = "auxiliary_classifier"
"""The layer type of AC-GAN's head: a discriminator that ends in it gives class logits beside its score."""


def stage_key(resolution: int) -> str:
    """The name of a stage's modules ('16x16'): by resolution, so the same stage has the same parameter
    names in a network of any depth, and a 256×256 model can start from a 128×128 one."""
    return f"{resolution}x{resolution}"


@dataclass(frozen=True)
class LayerSpec:
    """One entry: its registered type, every option (defaults included) and its name, if it has one. A
    block's path options hold its paths as tuples of LayerSpec (a tuple of those for several)."""

    type: str
    options: Mapping[str, Any]
    location: Location = field(default=Location("<memory>"), compare=False, repr=False)
    name: str | None = None

    def to_dict(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"type": self.type} | ({"name": self.name} if self.name else {})
        return entry | {key: _plain(value) for key, value in self.options.items()}

    def paths(self) -> Iterator[tuple[str, tuple[LayerSpec, ...]]]:
        """A block's paths by their module names ('main', 'branches.0', ...); nothing for a plain layer."""
        for option, several in layer_type(self.type).paths.items():
            value = self.options[option]
            if several:
                yield from ((f"{option}.{index}", layers) for index, layers in enumerate(value))
            else:
                yield option, value

    def resolved(self, per_path: Mapping[str, Any]) -> dict[str, Any]:
        """to_dict() with each path replaced by `per_path[its name]`: what a block's registry rules read."""
        entry = self.to_dict()
        for option, several in layer_type(self.type).paths.items():
            count = len(self.options[option])
            entry[option] = [per_path[f"{option}.{i}"] for i in range(count)] if several else per_path[option]
        return entry

    def walk(self) -> Iterator[LayerSpec]:
        """This entry and every entry inside its paths, depth first."""
        yield self
        for _, layers in self.paths():
            for layer in layers:
                yield from layer.walk()

    def type_names(self) -> Iterator[str]:
        """The types of this entry, of the entries in its paths and of those in its options (an
        `activation: {type: ...}`)."""
        for layer in self.walk():
            yield layer.type
            yield from _entry_types([value for key, value in layer.options.items() if key not in layer_type(layer.type).paths])


def _plain(value: Any) -> Any:
    """An option's value as JSON data (a block's paths as lists of entries)."""
    if isinstance(value, LayerSpec):
        return value.to_dict()
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def _entry_types(value: Any) -> Iterator[str]:
    if isinstance(value, dict) and isinstance(value.get("type"), str):
        yield value["type"]
    children = value.values() if isinstance(value, dict) else value if isinstance(value, (list, tuple)) else ()
    for child in children:
        yield from _entry_types(child)


def walk_layers(layers: Iterable[LayerSpec]) -> Iterator[LayerSpec]:
    """Every entry of a layer list, those inside blocks included."""
    for layer in layers:
        yield from layer.walk()


@dataclass(frozen=True)
class StageSpec:
    """A resolution stage. For a generator `resolution` is the stage's output size and `rgb` its
    to_rgb head; for a discriminator it is the input size and `rgb` its from_rgb head. `rgb` None: the
    stage has no image head (a network that never grows needs only the heads of its full depth)."""

    resolution: int
    layers: tuple[LayerSpec, ...]
    rgb: tuple[LayerSpec, ...] | None
    location: Location = field(default=Location("<memory>"), compare=False, repr=False)

    @property
    def head_layers(self) -> tuple[LayerSpec, ...]:
        """The image head's layers; none for a stage without a head."""
        return self.rgb or ()


@dataclass(frozen=True)
class NetworkSpec:
    """A generator or discriminator. Generator stages run from the lowest resolution up;
    discriminator stages are listed in the order data flows, from the highest resolution down."""

    role: Role
    name: str
    image_channels: int
    stages: tuple[StageSpec, ...]
    fade_resample: str  # one of FADE_RESAMPLE[role]
    images: str = "last"  # one of IMAGE_MODES[role]
    merge: str = "concat"  # a skip or all discriminator's: one of MERGES
    to_rgb_styles: str = "own"  # a style-based generator's: one of TO_RGB_STYLES
    latent_size: int | None = None
    classes: int | None = None  # the class count of its `label` input; None: it takes no label
    mapping: tuple[LayerSpec, ...] | None = None  # a generator's mapping network z -> w (empty: w = z); None: none
    style_size: int | None = None  # the length of w (the mapping's output), set by the validator
    description: str = ""
    source: str = field(default="<memory>", compare=False)

    @property
    def context(self) -> BuildContext:
        """What the layer types' rules need to know of the whole network."""
        return BuildContext(self.image_channels, self.classes, self.style_size)

    @property
    def inputs(self) -> tuple[str, ...]:
        """The named inputs the network takes beside z or the images."""
        return ("label",) if self.classes is not None else ()

    @property
    def classifier(self) -> LayerSpec | None:
        """A discriminator's auxiliary classifier (AC-GAN): its last layer, when it is one (the validator
        refuses one anywhere else); its `weight` scales the classification loss."""
        layers = self.stages[-1].layers if self.role == "discriminator" and self.stages else ()
        return layers[-1] if layers and layers[-1].type == CLASSIFIER else None

    @property
    def mapping_context(self) -> BuildContext:
        """The mapping network's: it makes the style, so none of its layers can read one."""
        return BuildContext(self.image_channels, self.classes)

    @property
    def resolutions(self) -> list[int]:
        return [stage.resolution for stage in self.stages]

    @property
    def max_resolution(self) -> int:
        return max(self.resolutions)

    def to_dict(self) -> dict[str, Any]:
        document: dict[str, Any] = {"network": self.role, "name": self.name}
        if self.description:
            document["description"] = self.description
        if self.latent_size is not None:
            document["latent_size"] = self.latent_size
        if self.classes is not None:
            document["inputs"] = {"label": {"classes": self.classes}}
        document["image_channels"] = self.image_channels
        document["fade_resample"] = self.fade_resample
        if self.images != IMAGE_MODES[self.role][0]:  # left out at their defaults: older specs stay as they were
            document["images"] = self.images
        if self.role == "discriminator" and self.images != "last":
            document["merge"] = self.merge
        if self.to_rgb_styles != TO_RGB_STYLES[0]:
            document["to_rgb_styles"] = self.to_rgb_styles
        if self.mapping is not None:
            document["mapping"] = [layer.to_dict() for layer in self.mapping]
        plugins = plugins_of(name for layer in self.all_layers() for name in layer.type_names())
        if plugins:  # so that loading it without them names what to install (spec/load.py)
            document["plugins"] = plugins
        document["stages"] = [
            {
                "resolution": stage.resolution,
                "layers": [layer.to_dict() for layer in stage.layers],
                RGB_KEY[self.role]: None if stage.rgb is None else [layer.to_dict() for layer in stage.rgb],
            }
            for stage in self.stages
        ]
        return document

    def all_layers(self) -> Iterator[LayerSpec]:
        """Every entry of the network, the mapping's first, then each stage's layers and image head, those
        inside blocks included."""
        yield from walk_layers(self.mapping or ())
        for stage in self.stages:
            yield from walk_layers(stage.layers + stage.head_layers)

    def to_json(self) -> str:
        """The canonical form: everything explicit, stable key order, loadable with load_spec_text."""
        return json.dumps(self.to_dict(), indent=2)
