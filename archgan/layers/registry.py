"""The layer registry: one entry per layer type, holding everything the rest of archgan needs.

A layer type is registered once, in its family's file (`layers/<family>.py`), together with its
options (each with a JSON Schema fragment, a default and a docs line), its shape rule, its parameter
count, its capabilities and its module builder. The schemas in `schemas/`, the validator, the builder,
`archgan show` and the layer reference all read this table. Nothing here imports torch: the modules
live in `layers/modules/<family>.py` and are imported only when a network is built.

Plugins add layer types without editing archgan: a plugin is a module whose import calls `register`.
The plugins of the environment (the `archgan.layers` entry points) and of ARCHGAN_PLUGINS are imported
at the first lookup, not at `import archgan`, which stays fast and torch-free; `load_plugin` (the CLI's
`--plugin`) imports one more. Each type records the module it came from (`LayerType.origin`), so saved
specs can name the plugins they need. Module names come from the environment and the command line only,
never from a spec file.
"""
from __future__ import annotations

import importlib
import os
import re
import sys
import traceback
from dataclasses import dataclass, field, replace
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

from ..errors import PluginError
from ..options import REQUIRED, Option, options_schema

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
MAX_CLASSES = 2**16
"""Upper bound of a label's classes: 65× ImageNet's 1,000."""
MAX_REPEAT = 2**10
"""Upper bound of an entry's `repeat` (the whole network is bounded separately, see spec/templates.py)."""
WIDTH = {"type": "integer", "minimum": 1, "maximum": MAX_WIDTH}
POSITIVE_SIZE = {"type": "integer", "minimum": 1, "maximum": MAX_SIZE}
NON_NEGATIVE_SIZE = {"type": "integer", "minimum": 0, "maximum": MAX_SIZE}


LAYER_LIST = {"$ref": "#/$defs/layer_list"}
"""The schema of an option that holds a layer list: it makes its layer type a block (see LayerType)."""
LAYER_LISTS = {"type": "array", "minItems": 2, "items": LAYER_LIST, "title": "a list of two or more layer lists"}
"""The schema of an option that holds several layer lists (the branches of a merge)."""
NAME_PATTERN = "^[A-Za-z_][A-Za-z0-9_]*$"
"""Entry names and template params: they become module names and `$param` references."""
ENTRY_KEYS = {
    "name": {"type": "string", "pattern": NAME_PATTERN, "maxLength": 64,
             "title": "a name of at most 64 letters, digits and _, not starting with a digit",
             "description": "the name of this entry's parameters (stages.16x16.NAME.weight) instead of its position, "
             "so inserting a layer before it does not rename them; letters, digits and _, not starting with a digit"},
    "repeat": {"type": "integer", "minimum": 1, "maximum": MAX_REPEAT,
               "description": "this many copies of the entry in a row; a name gets the copy's number (res0, res1, ...)"},
}
"""Keys every entry may have besides its type's options."""
RESERVED_NAMES = frozenset({
    "T_destination", "add_module", "apply", "bfloat16", "buffers", "call_super_init", "children", "compile", "cpu",
    "cuda", "double", "dump_patches", "eval", "extra_repr", "float", "forward", "get_buffer", "get_extra_state", "get_parameter",
    "get_submodule", "half", "ipu", "load_state_dict", "modules", "mtia", "named_buffers", "named_children",
    "named_modules", "named_parameters", "parameters", "register_backward_hook", "register_buffer",
    "register_forward_hook", "register_forward_pre_hook", "register_full_backward_hook",
    "register_full_backward_pre_hook", "register_load_state_dict_post_hook", "register_load_state_dict_pre_hook",
    "register_module", "register_parameter", "register_state_dict_post_hook", "register_state_dict_pre_hook",
    "requires_grad_", "set_extra_state", "set_submodule", "share_memory", "state_dict", "to", "to_empty", "train",
    "training", "type", "xpu", "zero_grad", "append", "extend", "insert", "pop",
})
"""Names an entry cannot take: attributes of torch's Module and Sequential, which a submodule cannot shadow
(a test checks this list against torch's)."""


class ShapeError(ValueError):
    """A layer cannot take the input it is given; the message says why in the user's terms."""


def widen_channels(value: Any, scale: Callable[[int], int]) -> Any:
    """A channel count under the network's width scale (`scale` leaves alone the counts that are not
    widths: a score's single channel, an image's channels); a from_rgb's null stays, to be inferred from
    the scaled stage above."""
    return scale(value) if isinstance(value, int) and not isinstance(value, bool) else value


def channels_option(doc: str = "output channels", schema: Mapping[str, Any] = WIDTH, default: Any = REQUIRED) -> Option:
    """The `channels` option of a layer type: a width, scaled by the network's `width:`."""
    return Option(schema, doc, default, widen=widen_channels)


def format_shape(shape: Shape) -> str:
    """'64×16×16' for a map, '512 features' for a vector: how every message writes a shape."""
    if len(shape) == 1:
        return f"{shape[0]} feature" + ("s" if shape[0] != 1 else "")
    return "×".join(str(s) for s in shape)


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
    """Facts about the whole network that a few layer types need: to_rgb emits the image channels, layers
    that read the class label need the number of classes (None: the network takes no label), layers that
    read the style need its length (None: the network has no mapping network)."""

    image_channels: int
    classes: int | None = None
    style_size: int | None = None


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

    A type whose options include layer lists (schema LAYER_LIST or LAYER_LISTS) is a block: each list is a
    path that reads the block's input, expanded, validated and built like a stage's layers. The block's
    rules see its paths resolved: in `output_shape` each path option holds the path's output shape (a
    list of them for LAYER_LISTS), in `build` the built path (a Chain; a list of them), and
    `parameters` counts the block's own weights only (its paths are counted as layers of their own).
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
    reads: tuple[str, ...] = ()
    """The network's named inputs the layer reads besides its input tensor: "label" (which the spec declares)
    or "style" (the generator's mapping network makes it; the module is a ReadsStyle, which knows which of
    the styles is its own). Its module is a TakesInputs (layers/modules/blocks.py), whose forward gets them;
    only the auxiliary classifier's label is read by its loss instead."""
    origin: str = field(default="", compare=False)
    """Set by `register`: BUILTIN, or the module to import for this type (what --plugin takes)."""

    @property
    def from_plugin(self) -> bool:
        return self.origin != BUILTIN

    def defaults(self) -> dict[str, Any]:
        return {name: option.default for name, option in self.options.items() if not option.required}

    @property
    def paths(self) -> dict[str, bool]:
        """A block's path options, each with whether it holds several layer lists (empty for a plain layer)."""
        return {name: option.schema == LAYER_LISTS for name, option in self.options.items()
                if option.schema in (LAYER_LIST, LAYER_LISTS)}

    def option_schema(self, strict: bool) -> dict[str, Any]:
        """JSON Schema of an entry of this type. `strict` describes an expanded entry: every REQUIRED option
        present, no `repeat`, and a block's paths left out (they are expanded and checked layer by layer)."""
        options = {name: option for name, option in self.options.items() if not (strict and name in self.paths)}
        schema = options_schema(options, strict, const_type=self.name) | {"description": self.doc}
        schema["properties"] |= {key: value for key, value in ENTRY_KEYS.items() if not (strict and key == "repeat")}
        return schema


BUILTIN = "archgan"
"""The origin of the layer types archgan itself registers."""
ENTRY_POINT_GROUP = "archgan.layers"
"""Entry points of this group name a module each, imported at the first lookup (e.g. in pyproject.toml:
`[project.entry-points."archgan.layers"] labgan = "labgan.layers"`)."""
PLUGINS_VARIABLE = "ARCHGAN_PLUGINS"
"""Comma-separated module names imported at the first lookup, for plugins that are not installed."""
_MODULE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")

_REGISTRY: dict[str, LayerType] = {}
_importing: list[str] = []  # the plugin modules being imported, innermost last: the origin of what they register
_configured_plugins_loaded = False


def _describe_origin(origin: str) -> str:
    return "archgan itself" if origin == BUILTIN else f"the plugin '{origin}'"


def register(layer_type: LayerType) -> LayerType:
    """Add a layer type; names are unique. Its origin is the plugin being loaded, else the module calling
    this (archgan's own modules count as BUILTIN), so a plugin imported directly is recorded as well."""
    caller = sys._getframe(1).f_globals.get("__name__", "")
    origin = _importing[-1] if _importing else BUILTIN if caller.split(".")[0] == BUILTIN else caller
    layer_type = replace(layer_type, origin=origin)
    existing = _REGISTRY.get(layer_type.name)
    if existing is not None:
        raise PluginError(
            f"layer type '{layer_type.name}' is registered by {_describe_origin(existing.origin)} and again by "
            f"{_describe_origin(origin)}; layer type names are unique: rename the plugin's type, or leave out "
            f"one of the two plugins"
        )
    _REGISTRY[layer_type.name] = layer_type
    return layer_type


def load_plugin(module: str, via: str = "--plugin") -> None:
    """Import a plugin module, which registers its layer types; `via` says where its name came from, for
    messages. A module imported before is not imported again (its types are registered already)."""
    _load_configured_plugins()
    _import_plugin(module, via)


def _import_plugin(module: str, via: str) -> None:
    if not _MODULE_NAME.fullmatch(module):
        raise PluginError(f"{via} {module!r}: a plugin is named by an importable module name such as labgan or "
                          f"labgan.layers, not a path or code")
    if module in sys.modules:
        return
    _importing.append(module)
    try:
        importlib.import_module(module)
    except PluginError:
        raise
    except ModuleNotFoundError as error:
        if error.name is not None and (module + ".").startswith(error.name + "."):
            raise PluginError(f"{via} {module}: no module of this name on the Python path; install the plugin, or "
                              f"add the folder holding it to PYTHONPATH") from None
        raise _failed(module, via, error) from error
    except Exception as error:  # the plugin's own bug: one line naming its file and line
        raise _failed(module, via, error) from error
    finally:
        _importing.pop()


def _failed(module: str, via: str, error: Exception) -> PluginError:
    frames = traceback.extract_tb(error.__traceback__)
    where = f" ({frames[-1].filename}:{frames[-1].lineno})" if frames else ""
    return PluginError(f"{via} {module}: the plugin failed while loading: {type(error).__name__}: {error}{where}")


def _load_configured_plugins() -> None:
    """Import the entry points' modules and ARCHGAN_PLUGINS' once, before the first lookup answers."""
    global _configured_plugins_loaded
    if _configured_plugins_loaded:
        return
    _configured_plugins_loaded = True  # first: a plugin may look types up while it registers its own
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        _import_plugin(entry.module, f"the entry point '{entry.name}' (group {ENTRY_POINT_GROUP})")
    for module in filter(None, (name.strip() for name in os.environ.get(PLUGINS_VARIABLE, "").split(","))):
        _import_plugin(module, PLUGINS_VARIABLE)


def layer_types() -> Mapping[str, LayerType]:
    """All registered layer types by name: the built-in ones (importing archgan.layers registers them) and
    the configured plugins' (imported on the first call)."""
    _load_configured_plugins()
    return _REGISTRY


def layer_type(name: str) -> LayerType:
    return layer_types()[name]


def names_in_family(family: str) -> list[str]:
    return sorted(name for name, entry in layer_types().items() if entry.family == family)


def plugins_of(names: Iterable[str]) -> dict[str, list[str]]:
    """The plugins the named layer types come from: {module: [type names]}, sorted; built-ins are left out."""
    plugins: dict[str, list[str]] = {}
    for name in sorted(set(names)):
        kind = layer_type(name)
        if kind.from_plugin:
            plugins.setdefault(kind.origin, []).append(name)
    return dict(sorted(plugins.items()))
