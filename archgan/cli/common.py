"""Helpers shared by sub-commands."""
from __future__ import annotations

import argparse
import math
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path

from ..errors import SetupError
from ..layers.registry import MAX_SIZE, MAX_WIDTH
from ..resources import builtin_architectures
from ..spec import NetworkSpec, load_spec
from ..spec.load import ROLES
from ..training.config import MAX_COUNT, MAX_KIMG


def load_specs(source: str, role: str | None = None) -> list[NetworkSpec]:
    """A file gives its one network; a built-in name gives its generator and discriminator
    (or the one `role` names)."""
    if not Path(source).is_file() and source in builtin_architectures():
        return [load_spec(source, r) for r in ROLES if role in (None, r)]
    return [load_spec(source, role)]  # type: ignore[arg-type]


def add_spec_arguments(parser) -> None:
    parser.add_argument("spec", help="an architecture file (.yaml, .json) or a built-in name such as pggan")
    parser.add_argument("--role", choices=ROLES, help="with a built-in name: show only this network")


_DEVICE = re.compile(r"^(cpu|cuda|mps)(?::(\d{1,3}))?$")


def resolve_device(name: str) -> str:
    """'auto' as a GPU when there is one; otherwise cpu, cuda or cuda:N (a GPU that exists), or mps where
    it is available. Other torch devices (meta, xla, ...) hold no data to train or generate with."""
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    match = _DEVICE.match(name)
    if match is None or (match.group(1) != "cuda" and match.group(2) not in (None, "0")):
        raise SetupError(f"--device {name}: not a device name archgan runs on; use cpu, cuda or cuda:N")
    kind, index = match.group(1), int(match.group(2) or 0)
    if kind == "cuda" and not torch.cuda.is_available():
        raise SetupError(f"--device {name}: no CUDA device is available here; use --device cpu")
    if kind == "cuda" and index >= torch.cuda.device_count():
        raise SetupError(f"--device {name}: this machine has {torch.cuda.device_count()} CUDA device(s), "
                         f"cuda:0 to cuda:{torch.cuda.device_count() - 1}")
    if kind == "mps" and not torch.backends.mps.is_available():
        raise SetupError(f"--device {name}: Apple's MPS is not available here; use --device cpu")
    return name


# ------------------------------------------------------------------------------ flag values

MAX_SEED = 2**63 - 1  # what torch.Generator.manual_seed takes


def bounded_int(minimum: int, maximum: int) -> Callable[[str], int]:
    """An argparse type: a whole number from `minimum` to `maximum`."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:  # also for more digits than Python converts
            value = None
        if value is None or not minimum <= value <= maximum:
            raise argparse.ArgumentTypeError(f"'{text[:40]}' is not a whole number from {minimum} to {maximum:,}")
        return value

    return parse


def finite_float(text: str) -> float:
    """An argparse type: a finite number (float() would also take 'nan' and 'inf')."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"'{text[:40]}' is not a finite number")
    return value


seed = bounded_int(0, MAX_SEED)

MAX_FLAG_VALUE = {
    "num_workers": 256, "latent_size": MAX_WIDTH, "max_images": 2**53, "kimg": MAX_KIMG, "num_epochs": 10**6,
    "feedback_factor": 10**6, "checkpoint_factor": 10**6, "num": 10**6, "batch_size": MAX_COUNT, "frames": 10**4,
    "interpolate": 10**4, "depth": MAX_SIZE, "resolution": MAX_SIZE, "count": 10**6,
}
"""Upper bounds of numeric flags: beyond them a run or a command would never end or exhaust memory."""


def check_at_most(args: argparse.Namespace) -> None:
    """Every flag of MAX_FLAG_VALUE that the command has and was given, within its bound."""
    for name, maximum in MAX_FLAG_VALUE.items():
        value = getattr(args, name, None)
        if isinstance(value, (int, float)) and value > maximum:
            raise SetupError(f"--{name} {value}: must be at most {maximum:,}")


# ------------------------------------------------------------------------------ output paths


def output_file(path: Path, flag: str, inputs: Sequence[str | os.PathLike[str]] = (), force: bool | None = None) -> Path:
    """A file about to be written: not a folder, not one of the command's `inputs`, and, where the command
    has --force (`force` not None), not an existing file unless forced. Its folder is created."""
    if path.is_dir():
        raise SetupError(f"{flag} {path}: this is a folder; name the file to write, e.g. {path / 'out'}")
    if any(path.resolve() == Path(source).resolve() for source in inputs):
        raise SetupError(f"{flag} {path}: this is the input file; write to another file")
    if force is False and path.exists():
        raise SetupError(f"{flag} {path}: the file exists already; choose another name, or add --force to overwrite it")
    output_folder(path.parent, flag)
    return path


def check_not_files(args: argparse.Namespace, names: Sequence[str]) -> None:
    """Folder flags, before anything is written: none may name an existing file."""
    for name in names:
        value = getattr(args, name, None)
        if value and Path(value).exists() and not Path(value).is_dir():
            raise SetupError(f"--{name} {value}: this is a file, not a folder; name a folder to write into")


def output_folder(path: Path, flag: str) -> Path:
    """A folder about to be written into, created if needed; a file of that name is an error."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise SetupError(f"{flag} {path}: this is a file, not a folder; name a folder to write into") from None
    except NotADirectoryError:
        raise SetupError(f"{flag} {path}: a part of this path is a file, not a folder") from None
    except OSError as error:
        raise SetupError(f"{flag} {path}: cannot create the folder: {error.strerror}") from None
    return path


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Help that states a default once, where there is one: not for flags without a value (None), for
    switches that are off unless given (False), nor where the text says it already."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if action.default in (None, False, argparse.SUPPRESS) or "(default" in text:
            return text
        return super()._get_help_string(action)
