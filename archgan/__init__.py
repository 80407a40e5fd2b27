"""archgan: progressive GANs whose networks are data.

Generators and discriminators are declared as layer lists per resolution stage (YAML or JSON),
validated against a JSON Schema and compiled into growable PyTorch networks.
"""
from .loading import LoadedRun, load_discriminator, load_generator, load_run
from .networks import Discriminator, Generator, build_network
from .networks.weights import WeightsError
from .spec import NetworkSpec, SpecError, load_spec

__version__ = "0.1.0"

__all__ = [
    "Discriminator",
    "Generator",
    "LoadedRun",
    "NetworkSpec",
    "SpecError",
    "WeightsError",
    "build_network",
    "load_discriminator",
    "load_generator",
    "load_run",
    "load_spec",
]
