"""Growable networks built from specs."""
from .build import build_layers
from .growable import Discriminator, Generator, build_network, fade_in

__all__ = ["Discriminator", "Generator", "build_layers", "build_network", "fade_in"]
