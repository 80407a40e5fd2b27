"""The validated, fully expanded form of an architecture file: plain frozen dataclasses.

Templates, defaults and inferred values are already resolved here, so `to_json()` writes every
option explicitly; that canonical JSON goes into every checkpoint and loads back to an equal spec.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterator, Literal, Mapping

from ..layers.registry import plugins_of
from ..layers.resample import DOWNSAMPLE_MODES, UPSAMPLE_MODES
from .errors import Location

Role = Literal["generator", "discriminator"]
RGB_KEY: Mapping[Role, str] = {"generator": "to_rgb", "discriminator": "from_rgb"}
"""The image head of a stage: a generator stage ends in to_rgb, a discriminator stage starts with from_rgb."""
FADE_RESAMPLE: Mapping[Role, tuple[str, ...]] = {"generator": UPSAMPLE_MODES, "discriminator": DOWNSAMPLE_MODES}
"""How the old path of a fade-in is resampled, the first being the default (ProGAN's): the generator
upsamples the previous stage's image ×2, the discriminator downsamples its input image ×½."""


def stage_key(resolution: int) -> str:
    """The name of a stage's modules ('16x16'): by resolution, so the same stage has the same parameter
    names in a network of any depth, and a 256×256 model can start from a 128×128 one."""
    return f"{resolution}x{resolution}"


@dataclass(frozen=True)
class LayerSpec:
    """One layer: its registered type and every option, defaults included."""

    type: str
    options: Mapping[str, Any]
    location: Location = field(default=Location("<memory>"), compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, **self.options}

    def type_names(self) -> Iterator[str]:
        """This layer's type and those of the entries in its options (an `activation: {type: ...}`)."""
        yield self.type
        yield from _entry_types(list(self.options.values()))


def _entry_types(value: Any) -> Iterator[str]:
    if isinstance(value, dict) and isinstance(value.get("type"), str):
        yield value["type"]
    children = value.values() if isinstance(value, dict) else value if isinstance(value, (list, tuple)) else ()
    for child in children:
        yield from _entry_types(child)


@dataclass(frozen=True)
class StageSpec:
    """A resolution stage. For a generator `resolution` is the stage's output size and `rgb` its
    to_rgb head; for a discriminator it is the input size and `rgb` its from_rgb head."""

    resolution: int
    layers: tuple[LayerSpec, ...]
    rgb: tuple[LayerSpec, ...]
    location: Location = field(default=Location("<memory>"), compare=False, repr=False)


@dataclass(frozen=True)
class NetworkSpec:
    """A generator or discriminator. Generator stages run from the lowest resolution up;
    discriminator stages are listed in the order data flows, from the highest resolution down."""

    role: Role
    name: str
    image_channels: int
    stages: tuple[StageSpec, ...]
    fade_resample: str  # one of FADE_RESAMPLE[role]
    latent_size: int | None = None
    description: str = ""
    source: str = field(default="<memory>", compare=False)

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
        document["image_channels"] = self.image_channels
        document["fade_resample"] = self.fade_resample
        plugins = plugins_of(name for stage in self.stages for layer in stage.layers + stage.rgb
                             for name in layer.type_names())
        if plugins:  # so that loading it without them names what to install (spec/load.py)
            document["plugins"] = plugins
        document["stages"] = [
            {
                "resolution": stage.resolution,
                "layers": [layer.to_dict() for layer in stage.layers],
                RGB_KEY[self.role]: [layer.to_dict() for layer in stage.rgb],
            }
            for stage in self.stages
        ]
        return document

    def to_json(self) -> str:
        """The canonical form: everything explicit, stable key order, loadable with load_spec_text."""
        return json.dumps(self.to_dict(), indent=2)
