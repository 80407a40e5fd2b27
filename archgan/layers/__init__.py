"""Layer types. Importing this package registers every built-in type (one file per family); nothing
here imports torch (the modules are in layers/modules/, imported when a network is built)."""
from . import (  # noqa: F401  (registration)
    activations,
    attention,
    blocks,
    blur,
    conditional,
    constant,
    conv,
    dropout,
    noise,
    norm,
    resample,
    shape,
    stddev,
    style,
)
from .registry import (
    BuildContext,
    LayerType,
    Option,
    Shape,
    ShapeError,
    layer_type,
    layer_types,
    load_plugin,
    names_in_family,
    no_parameters,
    register,
    same_shape,
)

__all__ = [
    "BuildContext",
    "LayerType",
    "Option",
    "Shape",
    "ShapeError",
    "layer_type",
    "layer_types",
    "load_plugin",
    "names_in_family",
    "no_parameters",
    "register",
    "same_shape",
]
