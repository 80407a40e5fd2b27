"""`archgan validate SPEC...`: check architecture files; exit 1 with the problems when one is invalid."""
from __future__ import annotations

import argparse
import sys

from ..spec import SpecError
from .common import load_specs


def register(commands) -> None:
    parser = commands.add_parser("validate", help="check architecture files and report every problem")
    parser.add_argument("specs", nargs="+", help="architecture files or built-in names")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    failed = 0
    for source in args.specs:
        try:
            for spec in load_specs(source):
                sizes = f"{spec.resolutions[0]}×{spec.resolutions[0]} → {spec.resolutions[-1]}×{spec.resolutions[-1]}"
                print(f"ok: {spec.source}: {spec.role} '{spec.name}', {len(spec.stages)} stages ({sizes})")
        except SpecError as error:
            failed += 1
            print(f"error: {error}", file=sys.stderr)
    return 1 if failed else 0
