"""Helpers shared by sub-commands."""
from __future__ import annotations

from pathlib import Path

from ..resources import builtin_architectures
from ..spec import NetworkSpec, load_spec
from ..spec.load import ROLES


def load_specs(source: str, role: str | None = None) -> list[NetworkSpec]:
    """A file gives its one network; a built-in name gives its generator and discriminator
    (or the one `role` names)."""
    if not Path(source).is_file() and source in builtin_architectures():
        return [load_spec(source, r) for r in ROLES if role in (None, r)]
    return [load_spec(source, role)]  # type: ignore[arg-type]


def add_spec_arguments(parser) -> None:
    parser.add_argument("spec", help="an architecture file (.yaml, .json) or a built-in name such as pggan")
    parser.add_argument("--role", choices=ROLES, help="with a built-in name: show only this network")
