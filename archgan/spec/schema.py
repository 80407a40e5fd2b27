"""JSON Schemas (Draft 2020-12) for generator and discriminator files, assembled from the layer registry.

Each layer type contributes its own fragment (`LayerType.option_schema`), so the files in `schemas/`
are generated, never edited by hand: `archgan schemas` rewrites them and a test fails when they are stale.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

from jsonschema import Draft202012Validator

from ..layers import layer_types, names_in_family
from ..layers.activations import ACTIVATION_FAMILY
from ..layers.registry import ENTRY_KEYS, MAX_CLASSES, NAME_PATTERN, POSITIVE_SIZE, WIDTH
from .model import FADE_RESAMPLE, IMAGE_MODES, MERGES, RGB_KEY, TO_RGB_STYLES, Role

DRAFT = "https://json-schema.org/draft/2020-12/schema"
IMAGE_CHANNELS = (1, 3)  # the image decoder makes grayscale or RGB


def _dispatch_on_type(names: list[str]) -> list[dict[str, Any]]:
    """`if type == X then X's fragment`, one per type: validates each entry against its own type only."""
    return [
        {
            "if": {"properties": {"type": {"const": name}}, "required": ["type"]},
            "then": {"$ref": f"#/$defs/layer_types/{name}"},
        }
        for name in names
    ]


def network_schema(role: Role) -> dict[str, Any]:
    """The schema of a raw generator or discriminator file (before templates and defaults are expanded)."""
    return _network_schema(role, len(layer_types()))


# The caches below are keyed by the number of registered layer types (types are only ever added), so a
# plugin loaded after a first use (archgan.layers.load_plugin in a notebook) cannot leave a stale schema.

@lru_cache(maxsize=None)
def _network_schema(role: Role, type_count: int) -> dict[str, Any]:
    types = layer_types()
    names = sorted(types)
    activations = names_in_family(ACTIVATION_FAMILY)
    rgb = RGB_KEY[role]
    defaults_per_type = {}
    for name in names:  # a default for every option but the entry's own keys and a block's paths
        fragment = types[name].option_schema(strict=False)
        own = {"type", *ENTRY_KEYS, *types[name].paths}
        fragment["properties"] = {k: v for k, v in fragment["properties"].items() if k not in own}
        defaults_per_type[name] = fragment

    properties: dict[str, Any] = {
        "$schema": {"type": "string", "description": "path or URL of this schema, for editors"},
        "network": {"const": role, "description": "which network this file describes"},
        "name": {"type": "string", "description": "short name shown by `archgan show` and saved with checkpoints"},
        "description": {"type": "string", "description": "free text: what this network reproduces"},
        "plugins": {
            "type": "object",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
            "description": "the plugins whose layer types this network uses, {module: [type, ...]}, as archgan "
            "writes it into saved specs: only for the message when one is not loaded; never imported",
        },
        "base": {
            "type": "string",
            "description": "a built-in name or a path (relative to this file) of a file of the same network "
            "that this one extends; keys given here replace the base's, except `templates` (merged name by name) "
            "and `defaults` (merged option by option); the base's `name` is not inherited",
        },
        "max_resolution": dict(POSITIVE_SIZE, description="drop the stages above this resolution"),
        "image_channels": {"enum": list(IMAGE_CHANNELS), "default": 3, "description": "channels of the images (3 = RGB, 1 = grayscale)"},
        "fade_resample": {
            "enum": list(FADE_RESAMPLE[role]),
            "default": FADE_RESAMPLE[role][0],
            "description": "how images are resampled between stages: "
            + ("the previous stage's image is upsampled ×2 while a stage fades in, and a skip generator's image at "
               "every stage (nearest, as ProGAN; bilinear; or fir, StyleGAN2's [1, 3, 3, 1] filter)" if role == "generator"
               else "the input image is downsampled ×½ for the previous stage while a stage fades in, and for every "
               "stage of a skip discriminator (average pooling, as ProGAN; antialiased bilinear; or fir, StyleGAN2's "
               "[1, 3, 3, 1] filter)"),
        },
        "images": {
            "enum": list(IMAGE_MODES[role]),
            "default": IMAGE_MODES[role][0],
            "description": (
                "which images the generator makes: last (the newest stage's to_rgb, fading in as ProGAN), skip (the "
                "sum of every stage's to_rgb image, each upsampled as fade_resample says: StyleGAN2) or all (every "
                "stage's image, lowest resolution first: MSG-GAN)" if role == "generator" else
                "which images the discriminator reads: last (one image, into the newest stage's from_rgb, fading in "
                "as ProGAN), skip (one image, which every stage's from_rgb reads at the stage's size, downsampled as "
                "fade_resample says: StyleGAN2) or all (one image per stage, lowest resolution first, each into its "
                "stage's from_rgb: MSG-GAN); with skip and all, a stage's from_rgb features join what the stage "
                "above hands down as `merge` says"),
        },
        "defaults": {
            "type": "object",
            "description": "options applied to every layer of a type unless the layer sets them",
            "properties": defaults_per_type,
            "additionalProperties": False,
        },
        "templates": {
            "type": "object",
            "description": "named layers or layer lists, used in a layer list as {use: NAME, option: override}; "
            "{params: [in, out], layers: [...]} takes values for the `$in`, `$out` in its layers: "
            "{use: NAME, in: 64, out: 128}",
            "additionalProperties": {
                "if": {"type": "array"},
                "then": {"$ref": "#/$defs/layer_list"},
                "else": {
                    "if": {"type": "object", "required": ["params"]},
                    "then": {"$ref": "#/$defs/parameterized_template"},
                    "else": {"$ref": "#/$defs/layer"},
                },
            },
        },
        "inputs": {
            "type": "object",
            "description": "what the network takes beside z (a generator) or the images (a discriminator); layers "
            "that read an input (label_embedding, conditional_batchnorm, projection) need it declared",
            "properties": {
                "label": {
                    "type": "object",
                    "description": "a class label per sample, an integer from 0 to classes − 1",
                    "properties": {"classes": {"type": "integer", "minimum": 2, "maximum": MAX_CLASSES,
                                               "description": "how many classes"}},
                    "required": ["classes"],
                    "additionalProperties": False,
                },
            },
            "additionalProperties": False,
        },
        "width": {
            "type": "object",
            "description": "scale every channel count of the network (each layer's `channels`, the channels of a "
            "reshape to a map) to round(channels × multiplier), at most max_channels, as Ultralytics' `scales`; "
            "a score's single channel, one score per class and an image's `image_channels` are not widths and stay",
            "properties": {
                "multiplier": {"type": "number", "exclusiveMinimum": 0, "maximum": 64,
                               "description": "e.g. 0.25 for a network a quarter as wide"},
                "max_channels": dict(WIDTH, description="the widest a scaled layer becomes"),
            },
            "required": ["multiplier"],
            "additionalProperties": False,
        },
        rgb: {
            "anyOf": [{"$ref": "#/$defs/layer_list"}, {"type": "null"}],
            "description": f"the {rgb} layers of every stage that does not give its own; null: those stages have "
            "no image head",
        },
        "stages": {
            "type": "array",
            "minItems": 1,
            "items": {"$ref": "#/$defs/stage"},
            "description": "lowest resolution first" if role == "generator" else "in data-flow order: highest resolution first",
        },
    }
    required_without_base = ["stages"]
    if role == "generator":
        properties["latent_size"] = dict(WIDTH, description="length of the latent vector z")
        properties["to_rgb_styles"] = {
            "enum": list(TO_RGB_STYLES),
            "default": TO_RGB_STYLES[0],
            "description": "the styles a style-based generator's to_rgb layers read: own (each its own index, as "
            "StyleGAN), or next (the index the next stage's first style layer reads, the last stage's one more: "
            "StyleGAN2's num_ws); truncation cutoffs and style mixing count these indices",
        }
        properties["mapping"] = {
            "$ref": "#/$defs/layer_list",
            "description": "a mapping network (StyleGAN): layers from the latent z, a vector, to the style w, a "
            "vector, which the layers that read a style (style_modulation) get; its own weights, trained with the "
            "generator's, and the average of w (truncation) are saved with the generator",
        }
        required_without_base.append("latent_size")
    else:
        properties["merge"] = {
            "enum": list(MERGES),
            "default": MERGES[0],
            "description": "with images skip or all: how a stage's from_rgb features join the features the stage "
            "above hands down: concat (from_rgb channels first, as MSG-GAN) or sum (as StyleGAN2)",
        }

    return {
        "$schema": DRAFT,
        "$id": f"https://archgan.readthedocs.io/schemas/{role}.schema.json",
        "title": f"archgan {role}",
        "type": "object",
        "properties": properties,
        "required": ["network"],
        "additionalProperties": False,
        "if": {"required": ["base"]},
        "else": {"required": required_without_base},
        "$defs": {
            "stage": {
                "type": "object",
                "properties": {
                    "resolution": dict(POSITIVE_SIZE, description="output size of a generator stage, input size of a discriminator stage"),
                    "layers": {"$ref": "#/$defs/layer_list"},
                    rgb: {"anyOf": [{"$ref": "#/$defs/layer_list"}, {"type": "null"}],
                          "description": f"this stage's {rgb} layers; null: the stage has no image head (a network "
                          "that never grows needs only the heads its full depth reads or writes)"},
                },
                "required": ["resolution", "layers"],
                "additionalProperties": False,
            },
            "layer_list": {"type": "array", "title": "a layer list", "items": {"$ref": "#/$defs/layer"}},
            "parameterized_template": {
                "type": "object",
                "title": "a template with parameters {params: [NAME, ...], layers: [...]}",
                "properties": {
                    "params": {"type": "array", "minItems": 1, "uniqueItems": True,
                               "items": {"type": "string", "pattern": NAME_PATTERN,
                                         "title": "a name of letters, digits and _, not starting with a digit"},
                               "description": "names its layers refer to as `$NAME`; every use gives each a value"},
                    "layers": {"type": "array",
                               "items": {"anyOf": [{"type": "object"},
                                                   {"type": "string", "pattern": "^\\$", "title": "a $param"}]},
                               "description": "checked once the values of a use are in"},
                },
                "required": ["params", "layers"],
                "additionalProperties": False,
            },
            "layer": {
                "type": "object",
                "title": "a layer entry {type: NAME, ...options} or a template use {use: NAME, ...overrides}",
                "if": {"required": ["use"]},
                "then": {"properties": {"use": {"type": "string"}, **ENTRY_KEYS}},
                "else": {
                    "required": ["type"],
                    "properties": {"type": {"enum": names}},
                    "allOf": _dispatch_on_type(names),
                },
            },
            "activation": {
                "anyOf": [
                    {"enum": activations},
                    {
                        "type": "object",
                        "title": "an activation entry such as {type: lrelu, slope: 0.1}",
                        "required": ["type"],
                        "properties": {"type": {"enum": activations}},
                        "allOf": _dispatch_on_type(activations),
                    },
                ]
            },
            "layer_types": {name: types[name].option_schema(strict=False) for name in names},
        },
    }


def network_validator(role: Role) -> Draft202012Validator:
    return _network_validator(role, len(layer_types()))


@lru_cache(maxsize=None)
def _network_validator(role: Role, type_count: int) -> Draft202012Validator:
    return Draft202012Validator(network_schema(role))


def raw_layers_validator() -> Draft202012Validator:
    """Validates a layer list as written (a template's layers once its params are in)."""
    return _raw_layers_validator(len(layer_types()))


@lru_cache(maxsize=None)
def _raw_layers_validator(type_count: int) -> Draft202012Validator:
    return Draft202012Validator({"$defs": network_schema("generator")["$defs"], "$ref": "#/$defs/layer_list"})


def strict_layer_validator(type_name: str) -> Draft202012Validator:
    """Validates an expanded layer entry: its type's options only, and every required option present."""
    return _strict_layer_validator(type_name, len(layer_types()))


@lru_cache(maxsize=None)
def _strict_layer_validator(type_name: str, type_count: int) -> Draft202012Validator:
    root = network_schema("generator")
    return Draft202012Validator({"$defs": root["$defs"], **layer_types()[type_name].option_schema(strict=True)})
