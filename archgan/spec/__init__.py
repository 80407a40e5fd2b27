"""Architecture files: loading, validation and the validated model. Nothing here builds modules."""
from .errors import Location, Problem, SpecError
from .load import load_spec, load_spec_text, resolve_spec_path
from .model import LayerSpec, NetworkSpec, Role, StageSpec

__all__ = [
    "LayerSpec",
    "Location",
    "NetworkSpec",
    "Problem",
    "Role",
    "SpecError",
    "StageSpec",
    "load_spec",
    "load_spec_text",
    "resolve_spec_path",
]
