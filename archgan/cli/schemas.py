"""`archgan schemas`: regenerate schemas/*.schema.json from the layer registry."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..resources import schemas_dir
from ..spec.schema import write_schemas


def register(commands) -> None:
    parser = commands.add_parser("schemas", help="write the JSON Schemas of architecture files")
    parser.add_argument("--out", type=Path, default=None, help="folder to write to (default: the schemas/ folder)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    folder = args.out or schemas_dir()
    folder.mkdir(parents=True, exist_ok=True)
    for path in write_schemas(folder):
        print(f"wrote {path}")
    return 0
