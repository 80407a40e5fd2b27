"""The `archgan` command: one sub-command per module of this package.

Every error a user can cause is an ArchganError (or an OSError naming a file) and is printed as one
message, exit status 1. Anything else is a bug: one line says so and names a file holding the full
traceback. A closed pipe (`archgan show pggan | head`) ends the command quietly."""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Sequence

from ..errors import ArchganError
from ..layers import load_plugin
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
    for command_parser in commands.choices.values():
        command_parser.add_argument(
            "--plugin", action="append", default=[], dest="plugins", metavar="MODULE",
            help="import this module first, to register its layer types (repeatable; a module name on the Python "
            "path, not a path; ARCHGAN_PLUGINS=a,b and the archgan.layers entry points do the same)")
    args = parser.parse_args(argv)
    try:
        for module in args.plugins:  # before anything reads the registry, so schemas and docs include them
            load_plugin(module)
        status = args.run(args)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's last flush
        return status
    except ArchganError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        _silence_stdout()
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except OSError as error:
        if error.filename is None:
            return _internal_error(error)
        print(f"error: {error.filename}: {error.strerror or error}", file=sys.stderr)
        return 1
    except Exception as error:  # noqa: BLE001  (a bug: reported in one line, the traceback kept in a file)
        return _internal_error(error)


def _silence_stdout() -> None:
    """The reader of stdout has gone: point stdout at /dev/null so that Python's final flush is quiet."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def crash_report_dir() -> Path:
    """Where full tracebacks of internal errors go: the platform's temporary folder."""
    return Path(tempfile.gettempdir()) / "archgan-crashes"


def _internal_error(error: BaseException) -> int:
    report = traceback.format_exc()
    try:
        folder = crash_report_dir()
        folder.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix=time.strftime("%Y%m%d-%H%M%S-"), suffix=".txt", dir=folder)
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(f"archgan {' '.join(sys.argv[1:])}\n\n{report}")
        where = f"the full traceback is in {name}"
    except OSError:  # nowhere to write it: the traceback itself is the report
        where = f"the traceback:\n{report}"
    print(f"error: internal error ({type(error).__name__}: {str(error)[:200]}); this is a bug in archgan, please "
          f"report it; {where}", file=sys.stderr)
    return 1
