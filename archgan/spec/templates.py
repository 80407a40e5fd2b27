"""Expansion of `templates`, `{use: ...}` entries, `repeat`, per-type `defaults` and the network's `width`
into explicit layers, blocks' paths included.

Precedence, lowest first: the registry's defaults, the file's `defaults` for the type, the template,
the overrides written beside `use`. Overrides on a template that is a list of layers apply to every
layer of the list whose type has that option (e.g. `{use: block, channels: 256}` sets both convs); they
do not reach into blocks. A template with `params` is written once for many widths: each `$name` value
in its layers is replaced by what the use gives (`{use: dblock, in: 64, out: 128}`), also inside blocks
and in the uses of other templates it makes.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from typing import Any, Callable, Mapping

from ..layers import LayerType, layer_type
from ..layers.registry import ENTRY_KEYS, MAX_WIDTH, RESERVED_NAMES
from ..options import with_defaults
from .errors import JsonPath, Location, Problem, SpecError, did_you_mean
from .model import RGB_KEY, LayerSpec, Role, StageSpec
from .schema import raw_layers_validator, strict_layer_validator
from .validate import schema_problems

MAX_LAYERS = 2**12
"""Upper bound of the entries a network expands to, blocks' contents included: 70× PGGAN at 1024²; repeats
inside repeated templates multiply, and this stops a file from asking for millions."""


@dataclass
class _Raw:
    """An entry before defaults: its data, how to locate a key inside it, and the templates it came through."""

    entry: dict[str, Any]
    locate: Callable[[JsonPath], Location]
    stack: tuple[str, ...]


class _Expander:
    def __init__(self, document: Mapping[str, Any], locate: Callable[[JsonPath], Location]):
        self.templates: Mapping[str, Any] = document.get("templates", {})
        self.defaults: Mapping[str, Any] = document.get("defaults", {})
        self.width: Mapping[str, Any] | None = document.get("width")
        self.image_channels: int = document.get("image_channels", 3)
        self.classes: int | None = document.get("inputs", {}).get("label", {}).get("classes")
        self.locate = locate
        self.problems: list[Problem] = []
        self.count = 0

    def layers(self, entries: list[Any], locate: Callable[[JsonPath], Location],
               stack: tuple[str, ...] = ()) -> tuple[LayerSpec, ...]:
        """A layer list expanded; `locate` places a path inside the list."""
        expanded = [layer for raw in self.raw_layers(entries, locate, stack) if (layer := self.finish(raw)) is not None]
        self.check_names(expanded)
        return tuple(expanded)

    def raw_layers(self, entries: list[Any], locate: Callable[[JsonPath], Location],
                   stack: tuple[str, ...]) -> list[_Raw]:
        """Entries with every `use` replaced by copies of its template and every `repeat` by copies."""
        result: list[_Raw] = []
        for index, entry in enumerate(entries):
            at = _within(locate, (index,))
            one = (self.use(entry, at, stack) if "use" in entry
                   else [_Raw({k: v for k, v in entry.items() if k != "repeat"}, at, stack)])
            copies = entry.get("repeat", 1)
            if len(result) + copies * len(one) > MAX_LAYERS:
                raise SpecError.single(at(("repeat",) if "repeat" in entry else ()),
                                       f"this list expands to more than {MAX_LAYERS:,} layers",
                                       hint="repeats inside repeated templates multiply; check the `repeat` counts")
            for number in range(copies):
                for raw in one:
                    copied = copy.deepcopy(raw.entry) if copies > 1 else raw.entry
                    if copies > 1 and "name" in copied:
                        copied["name"] = f"{copied['name']}{number}"
                    result.append(_Raw(copied, raw.locate, raw.stack))
        return result

    def use(self, entry: Mapping[str, Any], at: Callable[[JsonPath], Location], stack: tuple[str, ...]) -> list[_Raw]:
        """The layers of the template an entry uses, located at the use (noting the template and item)."""
        name = entry["use"]
        location = at(())
        if name not in self.templates:
            self.problems.append(Problem(at(("use",)), f"unknown template '{name}'", found=f"'{name}'",
                                         allowed=", ".join(sorted(self.templates)) or "(this file defines no templates)",
                                         hint=did_you_mean(name, self.templates)))
            return []
        if name in stack:
            self.problems.append(Problem(location, f"template '{name}' uses itself: {' → '.join(stack + (name,))}"))
            return []
        template = self.templates[name]
        overrides = {k: v for k, v in entry.items() if k not in ("use", *ENTRY_KEYS)}
        if isinstance(template, dict) and "params" in template:
            values = {k: overrides.pop(k) for k in template["params"] if k in overrides}
            body = self.substitute(name, template["params"], values, template["layers"], location)
            if body is None:
                return []
        else:
            body = template if isinstance(template, list) else [template]
        several = len(body) > 1 or isinstance(template, list) or "params" in template

        def in_template(path: JsonPath) -> Location:
            item = f", item {path[0]}" if several else ""
            return Location(location.file, location.path + path[1:], location.line, f"template '{name}'{item}")

        inner = self.raw_layers(body, in_template, stack + (name,))
        if "name" in entry:
            if len(inner) != 1:
                self.problems.append(Problem(at(("name",)), f"template '{name}' makes {len(inner)} layers, and one "
                                             "name cannot name several", hint="name the layers inside the template, "
                                             "or put them in a block and name that"))
            for raw in inner:
                raw.entry["name"] = entry["name"]
        self.apply_overrides(name, overrides, inner, at)
        return inner

    def substitute(self, template: str, params: list[str], values: dict[str, Any], body: list[Any],
                   location: Location) -> list[Any] | None:
        """The template's layers with each `$param` value replaced; problems for what is missing or unknown."""
        missing = [p for p in params if p not in values]
        if missing:
            self.problems.append(Problem(location, f"template '{template}' needs {', '.join(missing)}",
                                         allowed=f"its params: {', '.join(params)}",
                                         hint=f"give them beside `use`: {{use: {template}, "
                                         + ", ".join(f"{p}: ..." for p in params) + "}"))
            return None
        unknown: list[tuple[JsonPath, str]] = []

        def replace_params(value: Any, path: JsonPath) -> Any:
            if isinstance(value, str) and value.startswith("$"):
                if value[1:] in values:
                    return values[value[1:]]
                unknown.append((path, value))
            if isinstance(value, dict):
                return {k: replace_params(v, path + (k,)) for k, v in value.items()}
            if isinstance(value, list):
                return [replace_params(v, path + (i,)) for i, v in enumerate(value)]
            return value

        body = replace_params(body, ())

        def in_definition(path: JsonPath) -> Location:
            return replace(self.locate(("templates", template, "layers") + path),
                           note=f"template '{template}' as used at line {location.line}")

        for path, value in unknown:
            self.problems.append(Problem(in_definition(path), f"'{value}' names no parameter of template '{template}'",
                                         found=f"'{value}'", allowed=", ".join(f"${p}" for p in params),
                                         hint=did_you_mean(value[1:], params)))
        problems = [] if unknown else schema_problems(body, raw_layers_validator(), in_definition)
        self.problems += problems
        return None if unknown or problems else body

    def apply_overrides(self, name: str, overrides: Mapping[str, Any], layers: list[_Raw],
                        at: Callable[[JsonPath], Location]) -> None:
        for key, value in overrides.items():
            accepting = [raw.entry for raw in layers if "type" in raw.entry and key in layer_type(raw.entry["type"]).options]
            if not accepting:
                options = sorted({o for raw in layers if "type" in raw.entry for o in layer_type(raw.entry["type"]).options})
                self.problems.append(Problem(at((key,)), f"no layer of template '{name}' has an option '{key}'",
                                             found=f"'{key}'", allowed=", ".join(options), hint=did_you_mean(key, options)))
            for entry in accepting:
                entry[key] = value

    def finish(self, raw: _Raw) -> LayerSpec | None:
        """Apply defaults and the width scale, expand a block's paths, check the complete entry against its
        type, and normalize its options."""
        kind = layer_type(raw.entry["type"])
        merged = {"type": kind.name, **kind.defaults(), **self.defaults.get(kind.name, {}), **raw.entry}
        name = merged.pop("name", None)
        paths = {option: merged.pop(option) for option in kind.paths if option in merged}
        self.scale_width(kind, merged)
        problems = schema_problems(merged, strict_layer_validator(kind.name), raw.locate)
        problems += [Problem(raw.locate(()), f"missing required key '{option}' for layer type '{kind.name}'",
                             hint=f"add `{option}:` here, a layer list") for option in kind.paths if option not in paths]
        expanded = {option: self.path(value, kind.paths[option], raw, option) for option, value in paths.items()}
        self.count += 1
        if self.count > MAX_LAYERS:
            raise SpecError.single(raw.locate(()), f"the network expands to more than {MAX_LAYERS:,} layers",
                                   hint="repeats inside repeated templates and blocks multiply; check the `repeat` counts")
        if problems:
            self.problems += problems
            return None
        options = with_defaults(kind.options, merged)
        options = {key: expanded.get(key, options.get(key)) for key in kind.options if key in options or key in expanded}
        return LayerSpec(kind.name, options, raw.locate(()), name)

    def path(self, value: list[Any], several: bool, raw: _Raw, option: str) -> Any:
        if several:
            return tuple(self.layers(layers, _within(raw.locate, (option, index)), raw.stack)
                         for index, layers in enumerate(value))
        return self.layers(value, _within(raw.locate, (option,)), raw.stack)

    def scale_width(self, kind: LayerType, entry: dict[str, Any]) -> None:
        """`width: {multiplier, max_channels}` on every option that is a width (channels; see Option.widen).
        One channel is a score, one per class the scores of a class-conditional discriminator (label_select) and
        `image_channels` channels an image: they are not widths and stay."""
        if self.width is None:
            return
        multiplier, widest = self.width["multiplier"], self.width.get("max_channels", MAX_WIDTH)

        def scale(channels: int) -> int:
            if channels in (1, self.image_channels, self.classes):
                return channels
            return min(max(1, round(channels * multiplier)), widest)

        for key, option in kind.options.items():
            if option.widen is not None and key in entry:
                entry[key] = option.widen(entry[key], scale)

    def check_names(self, layers: list[LayerSpec]) -> None:
        seen: dict[str, LayerSpec] = {}
        for layer in layers:
            if layer.name is None:
                continue
            if layer.name in RESERVED_NAMES:
                self.problems.append(Problem(layer.location, f"'{layer.name}' cannot name an entry: torch's modules "
                                             "use this name themselves", hint=f"e.g. {layer.name}_{layer.type}"))
            elif layer.name in seen:
                self.problems.append(Problem(layer.location, f"two entries of this list are named '{layer.name}' "
                                             f"(the other at line {seen[layer.name].location.line})",
                                             hint="names are parameter names: make each unique within its list"))
            seen[layer.name] = layer


def _within(locate: Callable[[JsonPath], Location], prefix: JsonPath) -> Callable[[JsonPath], Location]:
    return lambda path: locate(prefix + path)


def expand_layers(entries: list[Any], file: str = "<memory>") -> tuple[LayerSpec, ...]:
    """A layer list outside any file (no templates, no file defaults), expanded and checked as a file's
    would be: for tests and for plugin authors trying their types."""
    expander = _Expander({}, lambda path: Location(file, path))
    problems = schema_problems(entries, raw_layers_validator(), lambda path: Location(file, path))
    layers = () if problems else expander.layers(entries, lambda path: Location(file, path))
    if problems or expander.problems:
        raise SpecError(problems + expander.problems)
    return layers


def expand_mapping(document: Mapping[str, Any], locate: Callable[[JsonPath], Location]) -> tuple[LayerSpec, ...] | None:
    """A generator's mapping network expanded like a stage's layers (the same templates and defaults)."""
    if "mapping" not in document:
        return None
    expander = _Expander(document, locate)
    layers = expander.layers(document["mapping"], _within(locate, ("mapping",)))
    if expander.problems:
        raise SpecError(expander.problems)
    return layers


def expand_stages(document: Mapping[str, Any], role: Role, locate: Callable[[JsonPath], Location]) -> tuple[StageSpec, ...]:
    """The document's stages with templates and defaults expanded; each stage gets its image head
    (its own, else the file-wide one, else a single default to_rgb/from_rgb layer; none where these say null)."""
    rgb = RGB_KEY[role]
    expander = _Expander(document, locate)
    shared = document.get(rgb, [{"type": rgb}])
    shared_head = None if shared is None else expander.layers(shared, _within(locate, (rgb,) if rgb in document else ()))
    stages = []
    for index, stage in enumerate(document["stages"]):
        path: JsonPath = ("stages", index)
        layers = expander.layers(stage["layers"], _within(locate, path + ("layers",)))
        if rgb not in stage:
            head = shared_head
        elif stage[rgb] is None:
            head = None  # a stage without an image head
        else:
            head = expander.layers(stage[rgb], _within(locate, path + (rgb,)))
        stages.append(StageSpec(stage["resolution"], layers, head, locate(path)))
    if expander.problems:
        raise SpecError(expander.problems)
    return tuple(stages)
