"""Validation: JSON Schema checks turned into friendly problems, then the semantic checks the schema
cannot express (resolutions double, channels chain, heads fit, the last stage ends in a score)."""
from __future__ import annotations

from typing import Any, Callable, Iterator, Mapping, Sequence

import jsonschema

from ..layers import BuildContext, Shape, ShapeError, layer_type
from .errors import JsonPath, Location, Problem, SpecError, did_you_mean
from .model import LayerSpec, Role, StageSpec

# ------------------------------------------------------------------------------ schema checks


def schema_problems(
    data: Any, validator: jsonschema.protocols.Validator, locate: Callable[[JsonPath], Location], base_path: JsonPath = ()
) -> list[Problem]:
    """Every schema violation in `data` as a Problem; jsonschema's own wording never reaches the user raw."""
    problems: dict[tuple[JsonPath, str], Problem] = {}
    for error in validator.iter_errors(data):
        for problem in _translate(error, validator.schema, locate, base_path):
            problems.setdefault((problem.location.path, problem.message), problem)
    return sorted(problems.values(), key=lambda p: (p.location.line or 0, p.location.path.__repr__()))


def _type_name(value: Any) -> str:
    names = {bool: "true/false", int: "integer", float: "number", str: "string", list: "list", dict: "mapping"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def _show(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else f"'{value}'"
    return text if len(text) < 80 else text[:77] + "..."


def _resolve(schema: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    while "$ref" in schema:
        node: Any = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = {**node, **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


def describe(schema: Mapping[str, Any], root: Mapping[str, Any]) -> str:
    """What a schema allows, in words: 'an integer ≥ 1', 'one of: nearest, bilinear', ..."""
    schema = _resolve(schema, root)
    if "title" in schema:
        return schema["title"]
    if "enum" in schema:
        return "one of: " + ", ".join(str(v) for v in schema["enum"])
    if "const" in schema:
        return _show(schema["const"])
    if "anyOf" in schema:
        return " or ".join(describe(s, root) for s in schema["anyOf"])
    kind = schema.get("type")
    bounds = []
    for key, symbol in (("minimum", "≥"), ("exclusiveMinimum", ">"), ("maximum", "≤"), ("exclusiveMaximum", "<")):
        if key in schema:
            bounds.append(f"{symbol} {schema[key]}")
    words = {
        "integer": "an integer",
        "number": "a number",
        "boolean": "true or false",
        "string": "a string",
        "array": "a list",
        "object": "a mapping",
        "null": "null",
    }
    text = words.get(kind, str(kind)) if kind else "a value"
    if kind == "array" and "items" in schema:
        count = ""
        if schema.get("minItems") == schema.get("maxItems") and "minItems" in schema:
            count = f"{schema['minItems']} "
        item = describe(schema["items"], root).removeprefix("an ").removeprefix("a ")
        noun, _, rest = item.partition(" ")
        text = f"a list of {count}{noun}s" + (f" {rest}" if rest else "")
    return " ".join([text, *bounds])


def _enum_values(schema: Mapping[str, Any], root: Mapping[str, Any]) -> list[str]:
    schema = _resolve(schema, root)
    values = [str(v) for v in schema.get("enum", [])]
    for alternative in schema.get("anyOf", []):
        values += _enum_values(alternative, root)
    return values


def _owner(instance: Any) -> str:
    """'layer type conv' when the instance is a layer entry, else a neutral word."""
    if isinstance(instance, dict) and isinstance(instance.get("type"), str):
        return f" for layer type '{instance['type']}'"
    return ""


def _translate(
    error: jsonschema.ValidationError,
    root: Mapping[str, Any],
    locate: Callable[[JsonPath], Location],
    base_path: JsonPath,
) -> Iterator[Problem]:
    path = base_path + tuple(error.absolute_path)
    location = locate(path)
    schema, instance, kind = error.schema, error.instance, error.validator
    if kind == "additionalProperties":
        allowed = sorted(schema.get("properties", {}))
        in_defaults = bool(path) and path[-1] == "defaults"
        for key in sorted(k for k in instance if k not in allowed):
            what = "unknown layer type" if in_defaults else "unknown key"
            yield Problem(
                locate(path + (key,)),
                f"{what} '{key}'{_owner(instance)}",
                found=_show(key),
                allowed=", ".join(allowed),
                hint=did_you_mean(key, allowed),
            )
    elif kind == "enum":
        allowed = [str(v) for v in error.validator_value]
        what = "unknown layer type" if path and path[-1] == "type" else "value not allowed"
        yield Problem(location, what, found=_show(instance), allowed=", ".join(allowed), hint=did_you_mean(instance, allowed))
    elif kind == "required":
        for key in error.validator_value:
            if isinstance(instance, dict) and key not in instance:
                yield Problem(location, f"missing required key '{key}'{_owner(instance)}", hint=f"add `{key}:` here")
    elif kind == "const" and path and path[-1] == "network":
        yield Problem(
            location,
            f"this file describes a {instance}, but a {error.validator_value} file is expected here",
            found=_show(instance),
            allowed=_show(error.validator_value),
        )
    elif kind in ("anyOf", "oneOf"):
        allowed_values = _enum_values(schema, root)
        yield Problem(
            location,
            "value not allowed",
            found=_show(instance),
            allowed=describe(schema, root),
            hint=did_you_mean(instance, allowed_values),
        )
    elif kind == "type":
        yield Problem(
            location,
            f"expected {describe(schema, root)}, found {_type_name(instance)}",
            found=_show(instance),
            allowed=describe(schema, root),
        )
    elif kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "const", "minItems", "maxItems"):
        yield Problem(location, "value out of range", found=_show(instance), allowed=describe(schema, root))
    else:
        yield Problem(location, error.message)


# ----------------------------------------------------------------------------- shape tracing


def trace(
    layers: Sequence[LayerSpec], shape: Shape, context: BuildContext
) -> Iterator[tuple[LayerSpec, Shape, Shape]]:
    """Yield (layer, input shape, output shape) through a layer list; a layer that cannot take its
    input raises a SpecError naming the layer, the shape it received and why."""
    for layer in layers:
        options = layer.to_dict()
        try:
            out = layer_type(layer.type).output_shape(options, shape, context)
        except ShapeError as error:
            raise SpecError.single(
                layer.location,
                f"layer '{layer.type}' cannot take its input of shape {format_shape(shape)}: {error}",
                found=format_shape(shape),
            ) from None
        yield layer, shape, out
        shape = out


def output_shape(layers: Sequence[LayerSpec], shape: Shape, context: BuildContext) -> Shape:
    for _, _, shape in trace(layers, shape, context):
        pass
    return shape


def format_shape(shape: Shape) -> str:
    if len(shape) == 1:
        return f"{shape[0]} feature" + ("s" if shape[0] != 1 else "")
    return "×".join(str(s) for s in shape)


# ---------------------------------------------------------------------------- semantic checks


def check_layer_options(layer: LayerSpec) -> None:
    if layer.options.get("equalized_lr") and layer.options.get("spectral_norm"):
        raise SpecError.single(
            layer.location,
            f"layer '{layer.type}' sets both equalized_lr and spectral_norm",
            hint="choose one: equalized_lr (ProGAN) or spectral_norm (SAGAN, FAGAN)",
        )


def resolve_stages(
    role: Role, stages: Sequence[StageSpec], image_channels: int, latent_size: int | None, location: Location
) -> tuple[StageSpec, ...]:
    """Check that the stages form a growable network and fill in inferred from_rgb widths."""
    context = BuildContext(image_channels)
    for stage in stages:
        for layer in stage.layers + stage.rgb:
            check_layer_options(layer)
    if role == "generator":
        return _resolve_generator(stages, context, latent_size)
    return _resolve_discriminator(stages, context)


def _resolve_generator(stages: Sequence[StageSpec], context: BuildContext, latent_size: int | None) -> tuple[StageSpec, ...]:
    shape: Shape = (latent_size or 0, 1, 1)
    for index, stage in enumerate(stages):
        if index:
            _check_doubles(stage, stages[index - 1], "generator", "doubles", 2 * stages[index - 1].resolution)
        shape = output_shape(stage.layers, shape, context)
        _check_spatial(stage, shape, stage.resolution, "ends at", "add an `upsample` layer or fix `resolution`")
        image = output_shape(stage.rgb, shape, context)
        if image != (context.image_channels, stage.resolution, stage.resolution):
            raise SpecError.single(
                stage.location.child("to_rgb"),
                f"the to_rgb layers of the {stage.resolution}×{stage.resolution} stage must output an image",
                found=format_shape(image),
                allowed=format_shape((context.image_channels, stage.resolution, stage.resolution)),
                hint="use [{type: to_rgb}], which always outputs `image_channels` channels",
            )
    return tuple(stages)


def _resolve_discriminator(stages: Sequence[StageSpec], context: BuildContext) -> tuple[StageSpec, ...]:
    resolved: list[StageSpec] = []
    below: Shape | None = None  # what the stage above hands down to this one
    for index, stage in enumerate(stages):
        if index:
            _check_doubles(stage, stages[index - 1], "discriminator", "halves", stages[index - 1].resolution // 2)
        rgb = tuple(_infer_from_rgb_channels(layer, below, index) for layer in stage.rgb)
        image: Shape = (context.image_channels, stage.resolution, stage.resolution)
        head = output_shape(rgb, image, context)
        if below is not None and head != below:
            raise SpecError.single(
                stage.location.child("from_rgb"),
                f"from_rgb of the {stage.resolution}×{stage.resolution} stage outputs {format_shape(head)}, but the "
                f"stage above hands this stage {format_shape(below)}: the channels cannot chain",
                found=format_shape(head),
                allowed=format_shape(below),
                hint="leave `channels` out of from_rgb to infer it, or make the two widths equal",
            )
        shape = output_shape(stage.layers, head, context)
        last = index == len(stages) - 1
        if last:
            if len(shape) == 0 or _numel(shape) != 1:
                raise SpecError.single(
                    stage.location.child("layers"),
                    "the last discriminator stage must end in one score per image",
                    found=format_shape(shape),
                    allowed="1 feature (e.g. a final {type: dense, channels: 1}) or 1×1×1",
                )
        else:
            _check_spatial(stage, shape, stage.resolution // 2, "hands down", "add a `downsample` layer")
        below = shape
        resolved.append(StageSpec(stage.resolution, stage.layers, rgb, stage.location))
    return tuple(resolved)


def _numel(shape: Shape) -> int:
    total = 1
    for size in shape:
        total *= size
    return total


def _infer_from_rgb_channels(layer: LayerSpec, below: Shape | None, index: int) -> LayerSpec:
    if layer.type != "from_rgb" or layer.options["channels"] is not None:
        return layer
    if below is None:
        raise SpecError.single(
            layer.location,
            "the from_rgb of the first (highest-resolution) discriminator stage needs `channels`",
            hint="nothing feeds this stage from above, so its input width cannot be inferred; "
            "add e.g. `channels: 16` to this stage's from_rgb",
        )
    return LayerSpec(layer.type, {**layer.options, "channels": below[0]}, layer.location)


def _check_doubles(stage: StageSpec, previous: StageSpec, role: str, verb: str, expected: int) -> None:
    if stage.resolution != expected:
        order = "lowest resolution first" if role == "generator" else "highest resolution first, as data flows"
        raise SpecError.single(
            stage.location.child("resolution"),
            f"stage resolution {stage.resolution} after a {previous.resolution} stage: each {role} stage "
            f"{verb} the resolution ({order})",
            found=str(stage.resolution),
            allowed=str(expected),
        )


def _check_spatial(stage: StageSpec, shape: Shape, size: int, verb: str, hint: str) -> None:
    if len(shape) != 3 or shape[1:] != (size, size):
        raise SpecError.single(
            stage.location.child("layers"),
            f"the {stage.resolution}×{stage.resolution} stage {verb} {format_shape(shape)}, not {size}×{size}",
            found=format_shape(shape),
            allowed=f"C×{size}×{size}",
            hint=hint,
        )
