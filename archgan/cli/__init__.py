"""The `archgan` command: one sub-command per module of this package."""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

from ..errors import ArchganError
from . import convert, docs, export, generate, metrics, new, prepare, schemas, show, train, validate

COMMANDS = (train, prepare, generate, metrics, export, new, show, validate, convert, schemas, docs)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="archgan",
        description="Progressive GANs whose networks are data: layer lists compiled into growable networks.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.register(commands)
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except ArchganError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
