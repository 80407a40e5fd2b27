"""`archgan new NAME --from pggan`: copy a built-in architecture (generator, discriminator and
training files, comments kept) into ./NAME/, ready to edit and train."""
from __future__ import annotations

import argparse
import os
import re
from pathlib import Path

from ..resources import architectures_dir, builtin_architectures, schemas_dir
from ..spec import load_spec
from ..spec.errors import did_you_mean
from ..errors import SetupError
from .common import output_folder

FILES = ("generator.yaml", "discriminator.yaml", "training.yaml")


def register(commands) -> None:
    parser = commands.add_parser("new", help="start a new architecture from a built-in one")
    parser.add_argument("name", help="the folder to create (its last part also names the networks)")
    parser.add_argument("--from", dest="source", default="pggan-small",
                        help=f"the built-in to copy: {', '.join(builtin_architectures())}")
    parser.add_argument("--force", action="store_true", help="overwrite files already in the folder")
    parser.set_defaults(run=run)


def copy_architecture(source: str, target: Path, force: bool = False) -> list[Path]:
    if source not in builtin_architectures():
        hint = did_you_mean(source, builtin_architectures())
        raise SetupError(f"--from {source}: no such built-in; choose one of {', '.join(builtin_architectures())}"
                         + (f" ({hint})" if hint else ""))
    output_folder(target, "NAME")
    written = []
    for name in FILES:
        origin, copy = architectures_dir() / source / name, target / name
        if not origin.is_file():
            continue
        if copy.exists() and not force:
            raise SetupError(f"{copy} exists already: choose another name, or --force to overwrite")
        schema = os.path.relpath(schemas_dir() / name.replace(".yaml", ".schema.json"), target.resolve())
        text = origin.read_text(encoding="utf-8")
        text = re.sub(r"^\$schema: .*$", f"$schema: {schema}", text, count=1, flags=re.M)
        text = re.sub(r"^name: .*$", f"name: {target.name}", text, count=1, flags=re.M)
        text = f"# Copied from the built-in '{source}' by `archgan new`; edit freely.\n" + text
        copy.write_text(text, encoding="utf-8")
        written.append(copy)
    return written


def run(args: argparse.Namespace) -> int:
    target = Path(args.name)
    written = copy_architecture(args.source, target, args.force)
    for role in ("generator", "discriminator"):
        load_spec(target / f"{role}.yaml", role)  # the copy must load from its new place
    print("wrote " + ", ".join(str(p) for p in written))
    print(f"train it: archgan train --generator_config {target}/generator.yaml "
          f"--discriminator_config {target}/discriminator.yaml --training_config {target}/training.yaml")
    return 0
