"""`archgan validate FILE...`: check architecture and training files; exit 1 with every problem found.
A built-in name checks its generator, discriminator and training files, and that they fit together."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from ..errors import ArchganError
from ..interop import attn_gan
from ..resources import architectures_dir, builtin_architectures
from ..spec import load_spec
from ..training.config import load_training_config
from ..training.schedule import Schedule


def register(commands) -> None:
    parser = commands.add_parser("validate", help="check architecture and training files and report every problem")
    parser.add_argument("files", nargs="+", help="generator, discriminator or training files, or built-in names")
    parser.set_defaults(run=run)


def _is_training_file(path: Path) -> bool:
    """Training files have neither `network` nor `stages` (architecture files need one of them) and
    are not attn_gan_pytorch .conf files."""
    if attn_gan.is_conf(path):
        return False
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return False  # let the spec loader report it
    return isinstance(data, dict) and bool(data) and "network" not in data and "stages" not in data


def _check(source: str) -> list[str]:
    if not Path(source).is_file() and source in builtin_architectures():
        generator, discriminator = load_spec(source, "generator"), load_spec(source, "discriminator")
        lines = [_describe(generator), _describe(discriminator)]
        training_file = architectures_dir() / source / "training.yaml"
        if training_file.is_file():
            Schedule(load_training_config(training_file), generator.resolutions)
            lines.append(f"ok: {training_file}: training file, fits the {len(generator.stages)} stages")
        return lines
    if _is_training_file(Path(source)):
        config = load_training_config(source)
        return [f"ok: {source}: training file ({config.loss['type']} loss)"]
    return [_describe(load_spec(source))]


def _describe(spec) -> str:
    first, last = spec.resolutions[0], spec.resolutions[-1]
    return f"ok: {spec.source}: {spec.role} '{spec.name}', {len(spec.stages)} stages ({first}×{first} → {last}×{last})"


def run(args: argparse.Namespace) -> int:
    failed = 0
    for source in args.files:
        try:
            print("\n".join(_check(source)))
        except ArchganError as error:
            failed += 1
            print(f"error: {error}", file=sys.stderr)
    return 1 if failed else 0
