"""Validation: JSON Schema checks turned into friendly problems, then the semantic checks the schema
cannot express (resolutions double, channels chain, heads fit, the last stage ends in a score)."""
from __future__ import annotations

import math
from dataclasses import replace
from typing import Any, Callable, Iterator, Mapping

import jsonschema

from ..layers import Shape, layer_type
from .errors import JsonPath, Location, Problem, SpecError, did_you_mean
from .model import CLASSIFIER, RGB_KEY, LayerSpec, NetworkSpec, StageSpec, walk_layers
from .shapes import format_shape, output_shape
from .stages import StagePlan, StageShapes, image_shape, iter_stage_shapes, plan_problem, stage_plan
from .summary import total_parameters

MAX_PARAMETERS = 2**30
"""Upper bound of a network's trainable parameters (4 GiB of float32 weights, four times that with Adam's
moments and the averaged generator): 45× PGGAN at 1024², and what fits the machines archgan trains on."""

# ------------------------------------------------------------------------------ schema checks

UNSUPPORTED_KEYS = {
    "from": "a layer reads the output of the one before it; for a skip connection or parallel paths, put them "
            "in a block: {type: residual, main: [...], shortcut: [...]} or {type: branches, branches: [[...], [...]]}",
    "args": "a layer's options are keys of its entry, e.g. {type: conv, channels: 64, kernel: 3}",
}
"""Keys other formats give layer entries (Ultralytics' `from:` and `args:`), with how archgan says the same."""


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
    return " ".join([text, " and ".join(bounds)]) if bounds else text


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
                hint=(UNSUPPORTED_KEYS.get(key) if _owner(instance) else None) or did_you_mean(key, allowed),
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
    elif kind == "pattern":
        yield Problem(location, "value not allowed", found=_show(instance), allowed=describe(schema, root))
    elif kind == "uniqueItems":
        yield Problem(location, "a value is listed twice", found=_show(instance), hint="list each value once")
    elif kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "const", "minItems", "maxItems",
                  "maxLength"):
        yield Problem(location, "value out of range", found=_show(instance), allowed=describe(schema, root))
    else:
        yield Problem(location, error.message)


# ---------------------------------------------------------------------------- semantic checks


def check_layer_options(layer: LayerSpec) -> None:
    if layer.options.get("equalized_lr") and layer.options.get("spectral_norm"):
        raise SpecError.single(
            layer.location,
            f"layer '{layer.type}' sets both equalized_lr and spectral_norm",
            hint="choose one: equalized_lr (ProGAN) or spectral_norm (SAGAN, FAGAN)",
        )


def check_network(spec: NetworkSpec) -> NetworkSpec:
    """Check that the stages form a growable network, stage by stage as data flows: every layer takes
    what the one before gives, and at every depth the stage that is newest there (the StagePlan's head)
    makes or reads an image of its size and hands the next stage what it expects. Returns the spec
    with the from_rgb widths left out filled in."""
    for layer in spec.all_layers():
        check_layer_options(layer)
        _check_head_role(spec, layer)
        if layer.type == CLASSIFIER and layer is not spec.classifier:
            raise SpecError.single(layer.location, "an auxiliary_classifier gives the score and the class logits: it "
                                   "is the last layer of a discriminator (of its last, lowest-resolution stage)",
                                   hint="move it to the end of the 4×4 stage, in place of the final dense layer")
    spec = _with_style_size(spec)
    for index in range(1, len(spec.stages)):
        _check_doubles(spec, index)
    _check_heads_present(spec)
    newest = {plan.head: plan for plan in (stage_plan(spec, depth, False) for depth in range(1, len(spec.stages) + 1))}
    stages = []
    for index, shapes in enumerate(iter_stage_shapes(spec)):
        stage = spec.stages[index]
        if spec.role == "discriminator" and spec.images == "last":
            stage = _infer_from_rgb_channels(stage, shapes.layers_in)
        _check_head(spec, stage, newest[index], shapes)
        stages.append(stage)
    checked = replace(spec, stages=tuple(stages))
    problem = plan_problem(checked, len(checked.stages), fading=False)
    if problem is not None:
        raise SpecError.single(Location(spec.source), f"the {spec.role} cannot run at its full depth: {problem}")
    _check_inputs_read(checked)
    _check_parameters(checked)
    return checked


def _check_heads_present(spec: NetworkSpec) -> None:
    """The heads every pass needs: every stage's head of a skip or all generator; the width of the first
    discriminator stage's from_rgb (nothing above it tells it) and of every from_rgb whose features are
    merged (images skip or all: nothing infers it)."""
    rgb = RGB_KEY[spec.role]
    for index, stage in enumerate(spec.stages):
        size = f"{stage.resolution}×{stage.resolution}"
        if stage.rgb is None and spec.role == "generator" and spec.images != "last":
            raise SpecError.single(stage.location.child(rgb), f"the {size} stage has no to_rgb, but a generator "
                                   f"with images: {spec.images} makes an image at every stage",
                                   hint="give it [{type: to_rgb}], or use images: last")
        if spec.role == "discriminator" and (index == 0 or spec.images != "last"):
            for layer in stage.head_layers:
                if layer.type == "from_rgb" and layer.options["channels"] is None:
                    which = "first (highest-resolution)" if index == 0 else size
                    why = ("nothing feeds this stage from above, so its input width cannot be inferred" if index == 0
                           else f"with images: {spec.images} its features are merged with the stage above's, so "
                           "they are a width of their own")
                    raise SpecError.single(layer.location, f"the from_rgb of the {which} discriminator stage needs "
                                           "`channels`", hint=f"{why}; add e.g. `channels: 16` to this from_rgb")


def _with_style_size(spec: NetworkSpec) -> NetworkSpec:
    """The spec with the length of w its mapping network makes (from z, a vector, to a vector)."""
    if spec.mapping is None:
        return spec
    for layer in walk_layers(spec.mapping):
        if "style" in layer_type(layer.type).reads:
            raise SpecError.single(layer.location, f"{layer.type} reads the style, which the mapping network makes: "
                                   "none of its own layers can read it", hint="move the layer into a stage")
    made = output_shape(spec.mapping, (spec.latent_size,), spec.mapping_context)
    if len(made) != 1:
        raise SpecError.single(spec.mapping[-1].location if spec.mapping else Location(spec.source, ("mapping",)),
                               "the mapping network must end in a vector, the style w",
                               found=format_shape(made), allowed="a vector of features, e.g. {type: dense, channels: 512}")
    return replace(spec, style_size=made[0])


def _check_inputs_read(spec: NetworkSpec) -> None:
    """A declared input some layer reads (a layer reading an undeclared one fails its shape rule), and a
    mapping network some layer reads the style of."""
    read = {name for layer in spec.all_layers() for name in layer_type(layer.type).reads}
    if spec.mapping is not None and "style" not in read:
        raise SpecError.single(
            Location(spec.stages[0].location.file, ("mapping",)),
            "the generator has a mapping network, but none of its layers reads the style it makes",
            hint="add a {type: style_modulation} where a style enters (StyleGAN: after each instancenorm), or "
            "leave out `mapping`")
    for name in spec.inputs:
        if name not in read:
            raise SpecError.single(
                Location(spec.stages[0].location.file, ("inputs", name)),
                f"the {spec.role} declares a {name} input, but none of its layers reads it",
                hint="add a label_embedding (a generator's z) or a projection or label_select (a discriminator's "
                "score) layer, or leave out `inputs`")


def _check_head_role(spec: NetworkSpec, layer: LayerSpec) -> None:
    """A to_rgb makes an image, a from_rgb reads one: each belongs to one network only."""
    other = "discriminator" if spec.role == "generator" else "generator"
    if layer.type == RGB_KEY[other]:
        raise SpecError.single(
            layer.location,
            f"{layer.type} is the {other}'s image head: a {spec.role} cannot use it",
            found=layer.type,
            hint=f"a {spec.role} stage's image head is {{type: {RGB_KEY[spec.role]}}}",
        )


def _check_parameters(spec: NetworkSpec) -> None:
    total = total_parameters(spec)
    if total > MAX_PARAMETERS:
        raise SpecError.single(
            Location(spec.stages[0].location.file),
            f"the {spec.role} would have {total:,} trainable parameters, more than archgan builds ({MAX_PARAMETERS:,})",
            hint="check the channels of the widest layers (`archgan show` lists every layer's parameters)",
        )


def _check_head(spec: NetworkSpec, stage: StageSpec, plan: StagePlan, shapes: StageShapes) -> None:
    """The stage as the newest one of `plan`: its head fits, and it hands on what the next stage needs."""
    context, image = spec.context, image_shape(spec, plan.head)
    size = f"{stage.resolution}×{stage.resolution}"
    if spec.role == "generator":
        _check_spatial(stage, shapes.layers_out, stage.resolution, "ends at", "add an `upsample` layer or fix `resolution`")
        if stage.rgb is not None and shapes.head_out != image:
            raise SpecError.single(
                stage.location.child("to_rgb"),
                f"the to_rgb layers of the {size} stage must output an image",
                found=format_shape(shapes.head_out),
                allowed=format_shape(image),
                hint="use [{type: to_rgb}], which always outputs `image_channels` channels",
            )
        return
    head = None if stage.rgb is None else output_shape(stage.rgb, image, context)
    if spec.images == "last" and head is not None and head != shapes.layers_in:
        raise SpecError.single(
            stage.location.child("from_rgb"),
            f"from_rgb of the {size} stage outputs {format_shape(head)}, but the stage above hands this stage "
            f"{format_shape(shapes.layers_in)}: the channels cannot chain",
            found=format_shape(head),
            allowed=format_shape(shapes.layers_in),
            hint="leave `channels` out of from_rgb to infer it, or make the two widths equal",
        )
    if plan.depth > 1:
        _check_spatial(stage, shapes.layers_out, stage.resolution // 2, "hands down", "add a `downsample` layer")
    elif math.prod(shapes.layers_out) != 1 and spec.classifier is None:
        raise SpecError.single(
            stage.location.child("layers"),
            "the last discriminator stage must end in one score per image",
            found=format_shape(shapes.layers_out),
            allowed="1 feature (e.g. a final {type: dense, channels: 1}) or 1×1×1",
        )


def _infer_from_rgb_channels(stage: StageSpec, received: Shape) -> StageSpec:
    """A from_rgb without `channels` gives the width the stage above hands down."""
    if stage.rgb is None:
        return stage
    rgb = tuple(
        LayerSpec(layer.type, {**layer.options, "channels": received[0]}, layer.location)
        if layer.type == "from_rgb" and layer.options["channels"] is None else layer
        for layer in stage.rgb
    )
    return replace(stage, rgb=rgb)


def _check_doubles(spec: NetworkSpec, index: int) -> None:
    stage, previous = spec.stages[index], spec.stages[index - 1]
    generator = spec.role == "generator"
    expected = 2 * previous.resolution if generator else previous.resolution // 2
    if stage.resolution != expected:
        order = "lowest resolution first" if generator else "highest resolution first, as data flows"
        raise SpecError.single(
            stage.location.child("resolution"),
            f"stage resolution {stage.resolution} after a {previous.resolution} stage: each {spec.role} stage "
            f"{'doubles' if generator else 'halves'} the resolution ({order})",
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
