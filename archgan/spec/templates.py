"""Expansion of `templates`, `{use: ...}` entries and per-type `defaults` into explicit layers.

Precedence, lowest first: the registry's defaults, the file's `defaults` for the type, the template,
the overrides written beside `use`. Overrides on a template that is a list of layers apply to every
layer of the list whose type has that option (e.g. `{use: block, channels: 256}` sets both convs).
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

from ..layers import layer_type
from ..options import with_defaults
from .errors import JsonPath, Location, Problem, SpecError, did_you_mean
from .model import RGB_KEY, LayerSpec, Role, StageSpec
from .schema import strict_layer_validator
from .validate import schema_problems

RawLayer = tuple[dict[str, Any], Callable[[JsonPath], Location]]
"""A layer entry before defaults, with a function locating a key inside it."""


class _Expander:
    def __init__(self, document: Mapping[str, Any], locate: Callable[[JsonPath], Location]):
        self.templates: Mapping[str, Any] = document.get("templates", {})
        self.defaults: Mapping[str, Any] = document.get("defaults", {})
        self.locate = locate
        self.problems: list[Problem] = []

    def layers(self, entries: list[Any], path: JsonPath) -> tuple[LayerSpec, ...]:
        return tuple(
            layer for raw in self.raw_layers(entries, path, ()) if (layer := self.finish(*raw)) is not None
        )

    def raw_layers(self, entries: list[Any], path: JsonPath, stack: tuple[str, ...]) -> list[RawLayer]:
        """Entries with every `use` replaced by copies of its template, overrides applied."""
        result: list[RawLayer] = []
        for index, entry in enumerate(entries):
            entry_path = path + (index,)
            if "use" not in entry:
                result.append((dict(entry), lambda p, base=entry_path: self.locate(base + p)))
            else:
                result += self.use(entry, self.locate(entry_path), stack)
        return result

    def use(self, entry: Mapping[str, Any], location: Location, stack: tuple[str, ...]) -> list[RawLayer]:
        name = entry["use"]
        if name not in self.templates:
            self.problems.append(
                Problem(
                    location.child("use"),
                    f"unknown template '{name}'",
                    found=f"'{name}'",
                    allowed=", ".join(sorted(self.templates)) or "(this file defines no templates)",
                    hint=did_you_mean(name, self.templates),
                )
            )
            return []
        if name in stack:
            self.problems.append(
                Problem(location, f"template '{name}' uses itself: {' → '.join(stack + (name,))}")
            )
            return []
        template = self.templates[name]
        inner = self.raw_layers(template if isinstance(template, list) else [template], ("templates", name), stack + (name,))
        expanded: list[RawLayer] = []
        for position, (layer, _) in enumerate(inner):
            note = f"template '{name}'" + (f", item {position}" if isinstance(template, list) else "")
            at = Location(location.file, location.path, location.line, note)
            expanded.append((layer, lambda p, at=at: Location(at.file, at.path + p, at.line, at.note)))
        self.apply_overrides(name, {k: v for k, v in entry.items() if k != "use"}, expanded, location)
        return expanded

    def apply_overrides(self, name: str, overrides: Mapping[str, Any], layers: list[RawLayer], location: Location) -> None:
        for key, value in overrides.items():
            accepting = [layer for layer, _ in layers if "type" in layer and key in layer_type(layer["type"]).options]
            if not accepting:
                options = sorted({o for layer, _ in layers if "type" in layer for o in layer_type(layer["type"]).options})
                self.problems.append(
                    Problem(
                        location.child(key),
                        f"no layer of template '{name}' has an option '{key}'",
                        found=f"'{key}'",
                        allowed=", ".join(options),
                        hint=did_you_mean(key, options),
                    )
                )
            for layer in accepting:
                layer[key] = value

    def finish(self, entry: dict[str, Any], locate: Callable[[JsonPath], Location]) -> LayerSpec | None:
        """Apply defaults, check the complete entry against its type, and normalize its options."""
        kind = layer_type(entry["type"])
        merged = {"type": kind.name, **kind.defaults(), **self.defaults.get(kind.name, {}), **entry}
        problems = schema_problems(merged, strict_layer_validator(kind.name), locate)
        if problems:
            self.problems += problems
            return None
        return LayerSpec(kind.name, with_defaults(kind.options, merged), locate(()))


def expand_stages(document: Mapping[str, Any], role: Role, locate: Callable[[JsonPath], Location]) -> tuple[StageSpec, ...]:
    """The document's stages with templates and defaults expanded; each stage gets its image head
    (its own, else the file-wide one, else a single default to_rgb/from_rgb layer)."""
    rgb = RGB_KEY[role]
    expander = _Expander(document, locate)
    shared_head = expander.layers(document.get(rgb, [{"type": rgb}]), (rgb,) if rgb in document else ())
    stages = []
    for index, stage in enumerate(document["stages"]):
        path: JsonPath = ("stages", index)
        layers = expander.layers(stage["layers"], path + ("layers",))
        head = expander.layers(stage[rgb], path + (rgb,)) if rgb in stage else shared_head
        stages.append(StageSpec(stage["resolution"], layers, head, locate(path)))
    if expander.problems:
        raise SpecError(expander.problems)
    return tuple(stages)
