"""Growable networks built from specs (torch). What runs at each depth is the spec's StagePlan
(archgan/spec/stages.py); the fade-in is networks/fade.py."""
from .build import build_layers
from .growable import Discriminator, Generator, build_network

__all__ = ["Discriminator", "Generator", "build_layers", "build_network"]
