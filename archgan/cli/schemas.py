"""`archgan schemas`: regenerate schemas/*.schema.json from the layer and loss registries."""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..resources import schemas_dir
from ..spec.schema import network_schema
from ..training.config import training_schema
from .common import output_folder


def schema_documents() -> dict[str, dict[str, Any]]:
    """File name -> schema, for every file kind archgan reads."""
    return {
        "generator.schema.json": network_schema("generator"),
        "discriminator.schema.json": network_schema("discriminator"),
        "training.schema.json": training_schema(),
    }


def write_schemas(folder: Path) -> list[Path]:
    written = []
    for name, schema in schema_documents().items():
        path = folder / name
        path.write_text(json.dumps(schema, indent=2) + "\n", encoding="utf-8")
        written.append(path)
    return written


def register(commands) -> None:
    parser = commands.add_parser("schemas", help="write the JSON Schemas of architecture and training files")
    parser.add_argument("--out", type=Path, default=None, help="folder to write to (default: the schemas/ folder)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    folder = args.out or schemas_dir()
    output_folder(folder, "--out")
    for path in write_schemas(folder):
        print(f"wrote {path}")
    return 0
