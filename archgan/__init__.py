"""archgan: progressive GANs whose networks are data.

Generators and discriminators are declared as layer lists per resolution stage (YAML or JSON),
validated against a JSON Schema and compiled into growable PyTorch networks.
"""
from .networks import Discriminator, Generator, build_network
from .spec import NetworkSpec, SpecError, load_spec

__version__ = "0.1.0"

__all__ = ["Discriminator", "Generator", "NetworkSpec", "SpecError", "build_network", "load_spec"]
