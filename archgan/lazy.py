"""Functions whose code lives in a module that is imported only when they are first called.

Registries (layer types, losses, metrics) must be readable without torch, so that `archgan validate`
and `archgan show` start in a fraction of a second; each entry names its torch code with `deferred`.
These names are written in archgan's own source, never read from a user's file.
"""
from __future__ import annotations

import importlib
from typing import Any, Callable


def deferred(target: str) -> Callable[..., Any]:
    """'archgan.layers.modules.conv:build_conv' as a function that imports the module on its first call."""
    module_name, _, name = target.partition(":")
    if not module_name or not name:
        raise ValueError(f"deferred() needs 'module:function', got {target!r}")

    def call(*args: Any, **kwargs: Any) -> Any:
        return getattr(importlib.import_module(module_name), name)(*args, **kwargs)

    call.__name__ = name
    call.__qualname__ = target
    call.__doc__ = f"Calls {target} (imported on first use)."
    return call
