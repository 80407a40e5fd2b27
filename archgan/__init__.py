"""archgan: progressive GANs whose networks are data.

Generators and discriminators are declared as layer lists per resolution stage (YAML or JSON),
validated against a JSON Schema and compiled into growable PyTorch networks. The public names below
are imported when first used, so `import archgan.spec` (and `archgan validate`) never loads torch.
"""
from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_PUBLIC = {
    "Discriminator": "archgan.networks",
    "Generator": "archgan.networks",
    "build_network": "archgan.networks",
    "LoadedRun": "archgan.loading",
    "load_discriminator": "archgan.loading",
    "load_generator": "archgan.loading",
    "load_run": "archgan.loading",
    "NetworkSpec": "archgan.spec",
    "SpecError": "archgan.spec",
    "load_spec": "archgan.spec",
    "WeightsError": "archgan.errors",
}
__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'archgan' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
