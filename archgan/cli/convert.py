"""`archgan convert gen.conf -o generator.yaml`: an attn_gan_pytorch config as a native archgan file."""
from __future__ import annotations

import argparse
import json
import math
import os
from pathlib import Path
from typing import Any

import yaml

from ..interop import attn_gan
from ..resources import schemas_dir
from ..spec import load_spec
from ..spec.model import RGB_KEY
from .common import output_file


def register(commands) -> None:
    parser = commands.add_parser("convert", help="turn an attn_gan_pytorch .conf into an archgan YAML or JSON file")
    parser.add_argument("config", help="an attn_gan_pytorch .conf file (gen.conf, dis.conf)")
    parser.add_argument("-o", "--out", type=Path, required=True, help="the file to write (.yaml, .yml or .json)")
    parser.add_argument("--role", choices=("generator", "discriminator"),
                        help="which network the .conf describes (default: from its name or its last layer)")
    parser.add_argument("--force", action="store_true", help="overwrite the output file when it exists")
    parser.set_defaults(run=run)


def _flow(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=True, width=math.inf, sort_keys=False).strip().removesuffix("...").strip()


def schema_reference(document: dict[str, Any], out: Path) -> str:
    """The schema file's path relative to the written file, for editors that follow `$schema`."""
    return os.path.relpath(schemas_dir() / f"{document['network']}.schema.json", out.resolve().parent)


def to_yaml(document: dict[str, Any], header: str, schema: str) -> str:
    """One line per key and per layer, layers as flow mappings: as compact as a hand-written spec."""
    rgb = RGB_KEY[document["network"]]
    lines = [f"# {header}", f"$schema: {schema}"]
    for key, value in document.items():
        if key != "stages":
            lines.append(f"{key}: {_flow(value)}")
    lines += ["", "stages:"]
    for stage in document["stages"]:
        lines.append(f"  - resolution: {stage['resolution']}")
        lines.append(f"    {rgb}: {_flow(stage[rgb])}")
        lines.append("    layers:")
        lines += [f"      - {_flow(layer)}" for layer in stage["layers"]]
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    output_file(args.out, "-o", inputs=[args.config], force=args.force)
    converted = attn_gan.read_conf(args.config, args.role)
    document = converted.parsed.data
    header = f"converted from {Path(args.config).name} (attn_gan_pytorch) by `archgan convert`"
    schema = schema_reference(document, args.out)
    if args.out.suffix.lower() == ".json":
        text = json.dumps({"$schema": schema, **document}, indent=2) + "\n"
    else:
        text = to_yaml(document, header, schema)
    args.out.write_text(text, encoding="utf-8")
    spec = load_spec(args.out, document["network"])  # the written file must load back to the same network
    print(f"wrote {args.out}: {spec.role} '{spec.name}', {len(spec.stages[0].layers)} layers at "
          f"{spec.resolutions[0]}×{spec.resolutions[0]}")
    return 0
