"""Load architecture files: find them (path or built-in name), parse them safely, follow `base`,
expand templates and defaults, validate, and return a NetworkSpec."""
from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..interop import attn_gan
from ..layers import layer_types
from ..resources import architectures_dir, builtin_architectures
from .errors import JsonPath, Location, Problem, SpecError, did_you_mean
from .model import FADE_RESAMPLE, IMAGE_MODES, MERGES, TO_RGB_STYLES, NetworkSpec, Role
from .parse import ParsedFile, parse_text, read_file
from .schema import network_validator
from .templates import expand_mapping, expand_stages
from .validate import check_network, schema_problems

ROLES: tuple[Role, ...] = ("generator", "discriminator")


def load_spec(source: str | os.PathLike[str], role: Role | None = None) -> NetworkSpec:
    """Load and validate a generator or discriminator: a file path, or a built-in architecture name
    together with the `role` to take from it. Raises SpecError with every problem found."""
    path = resolve_spec_path(source, role)
    return _build(_read_document(path, role, chain=()))


def load_spec_text(text: str, fmt: str = "json", file: str = "<string>", role: Role | None = None) -> NetworkSpec:
    """Load a spec held in memory, e.g. the canonical JSON saved in a checkpoint."""
    return _build(_document_from(parse_text(text, file, fmt), Path.cwd(), role, chain=()))


def resolve_spec_path(source: str | os.PathLike[str], role: Role | None) -> Path:
    """A path to an existing file, or `architectures/<name>/<role>.yaml` for a built-in name."""
    path = Path(source)
    if path.exists() and not path.is_dir():  # read_file refuses FIFOs and devices
        return path
    name = str(source)
    builtins = builtin_architectures()
    if name in builtins:
        if role is None:
            raise SpecError.single(
                Location(name),
                f"'{name}' is a built-in architecture with several files",
                hint="say which network: e.g. load_spec('pggan', role='generator')",
            )
        return architectures_dir() / name / f"{role}.yaml"
    if path.is_dir():
        raise SpecError.single(Location(name), "this is a folder, not an architecture file",
                               hint=f"name the file inside it, e.g. {path / 'generator.yaml'}")
    raise SpecError.single(
        Location(name),
        "no such file, and no built-in architecture of this name",
        found=f"'{name}'",
        allowed="a path to a .yaml/.json file, or one of: " + ", ".join(sorted(builtins)),
        hint=did_you_mean(name, builtins),
    )


@dataclass
class _Document:
    """A file's data after `base` merging, with the files each part came from (for error locations)."""

    data: dict[str, Any]
    owners: list[tuple[JsonPath, ParsedFile]]
    path: Path

    def locate(self, path: JsonPath) -> Location:
        prefix, owner = max(
            ((p, f) for p, f in self.owners if tuple(path[: len(p)]) == p), key=lambda item: len(item[0])
        )
        return owner.locate(path)


def _read_document(path: Path, role: Role | None, chain: tuple[Path, ...]) -> _Document:
    parsed = read_file(path)
    if attn_gan.is_conf(path):
        parsed = attn_gan.convert(parsed, role).parsed
    return _document_from(parsed, path, role, chain)


def _document_from(parsed: ParsedFile, path: Path, role: Role | None, chain: tuple[Path, ...]) -> _Document:
    data = parsed.data
    top = Location(parsed.file, (), 1)
    if not isinstance(data, dict):
        raise SpecError.single(top, "the top level must be a mapping of keys", found=type(data).__name__)
    declared = data.get("network")
    if declared not in ROLES:
        found = "nothing" if declared is None else repr(declared)
        raise SpecError.single(
            parsed.locate(("network",)),
            "the file must say which network it describes in its `network` key",
            found=found,
            allowed="generator, discriminator",
            hint=did_you_mean(declared, ROLES) or "add `network: generator` or `network: discriminator`",
        )
    if role is not None and declared != role:
        raise SpecError.single(
            parsed.locate(("network",)),
            f"this file describes a {declared}, but a {role} file is expected here",
            found=declared,
            allowed=role,
            hint=f"pass it where a {declared} is expected (e.g. --{declared}_config)",
        )
    problems = _missing_plugins(data, parsed) or schema_problems(data, network_validator(declared), parsed.locate)
    if problems:
        raise SpecError(problems)
    if "base" not in data:
        return _Document(dict(data), [((), parsed)], path)
    base = _read_document(_resolve_base(data["base"], path, declared, parsed, chain), declared, chain + (path,))
    merged = {key: value for key, value in base.data.items() if key != "name"}  # a new network: named by its file
    owners = list(base.owners)
    for key, value in data.items():
        if key == "defaults":  # merged option by option, so a file can change one default of its base
            inherited = merged.get(key, {})
            merged[key] = inherited | {t: inherited.get(t, {}) | options for t, options in value.items()}
            owners += [((key, t, option), parsed) for t, options in value.items() for option in options]
        elif key == "templates":  # merged name by name
            merged[key] = {**merged.get(key, {}), **value}
            owners += [((key, name), parsed) for name in value]
        else:
            merged[key] = value
            owners.append(((key,), parsed))
    del merged["base"]
    return _Document(merged, owners, path)


def _missing_plugins(data: dict[str, Any], parsed: ParsedFile) -> list[Problem]:
    """A file's `plugins` record names the plugin of each layer type that is not registered here: a
    clearer message than 'unknown layer type'. The names are only printed, never imported."""
    plugins = data.get("plugins")
    if not isinstance(plugins, dict):
        return []  # the schema reports a malformed record
    known = layer_types()
    loaded = {kind.origin for kind in known.values()}
    problems = []
    for plugin, names in plugins.items():
        for name in names if isinstance(names, list) else []:
            if isinstance(name, str) and name not in known:
                why = ("which is loaded but registers no such type (another version of it?)" if plugin in loaded
                       else "which is not loaded")
                problems.append(Problem(parsed.locate(("plugins", plugin)),
                                        f"layer type '{name}' comes from the plugin '{plugin}', {why}",
                                        hint=f"install it or pass --plugin {plugin} (or set ARCHGAN_PLUGINS={plugin})"))
    return problems


def _resolve_base(base: str, path: Path, role: Role, parsed: ParsedFile, chain: tuple[Path, ...]) -> Path:
    candidate = (path.parent / base) if not Path(base).is_absolute() else Path(base)
    resolved = candidate if candidate.is_file() else None
    if resolved is None and base in builtin_architectures():
        resolved = architectures_dir() / base / f"{role}.yaml"
    if resolved is None:
        raise SpecError.single(
            parsed.locate(("base",)),
            "the base is neither a file (relative to this one) nor a built-in architecture",
            found=f"'{base}'",
            allowed="a path or one of: " + ", ".join(sorted(builtin_architectures())),
            hint=did_you_mean(base, builtin_architectures()),
        )
    if resolved.resolve() in {p.resolve() for p in chain + (path,)}:
        raise SpecError.single(parsed.locate(("base",)), f"'{base}' is already a base of this file: bases form a loop")
    return resolved


def _build(document: _Document) -> NetworkSpec:
    data = document.data
    role: Role = data["network"]
    if "merge" in data and data.get("images", IMAGE_MODES[role][0]) == "last":
        raise SpecError.single(document.locate(("merge",)), "merge joins the from_rgb features of every stage with "
                               "those from above, which only a discriminator with images: skip or all has",
                               hint="add `images: all` (one image per stage) or `images: skip`, or leave out merge")
    spec = check_network(NetworkSpec(
        role=role,
        name=data.get("name") or _default_name(document.path),
        image_channels=data.get("image_channels", 3),
        stages=expand_stages(data, role, document.locate),
        fade_resample=data.get("fade_resample", FADE_RESAMPLE[role][0]),
        images=data.get("images", IMAGE_MODES[role][0]),
        merge=data.get("merge", MERGES[0]),
        to_rgb_styles=data.get("to_rgb_styles", TO_RGB_STYLES[0]),
        latent_size=data.get("latent_size") if role == "generator" else None,
        classes=data.get("inputs", {}).get("label", {}).get("classes"),
        mapping=expand_mapping(data, document.locate),
        description=data.get("description", ""),
        source=str(document.path),
    ))
    if "max_resolution" not in data:
        return spec
    kept = tuple(stage for stage in spec.stages if stage.resolution <= data["max_resolution"])
    if data["max_resolution"] not in spec.resolutions:
        raise SpecError([Problem(
            document.locate(("max_resolution",)),
            "max_resolution must be the resolution of one of the stages",
            found=str(data["max_resolution"]),
            allowed=", ".join(str(stage.resolution) for stage in spec.stages),
        )])
    return replace(spec, stages=kept)


def _default_name(path: Path) -> str:
    """`my_arch/generator.yaml` -> 'my_arch'; `my_gen.yaml` -> 'my_gen'."""
    return path.parent.name if path.stem in ROLES and path.parent.name else path.stem
