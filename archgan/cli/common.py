"""Helpers shared by sub-commands."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import SetupError

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


def resolve_device(name: str) -> str:
    """'auto' as a GPU when there is one; a named device checked to exist."""
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError:
        raise SetupError(f"--device {name}: not a device name; use cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SetupError(f"--device {name}: no CUDA device is available here; use --device cpu")
    return name


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Help that states a default once, where there is one: not for flags without a value (None), for
    switches that are off unless given (False), nor where the text says it already."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if action.default in (None, False, argparse.SUPPRESS) or "(default" in text:
            return text
        return super()._get_help_string(action)
