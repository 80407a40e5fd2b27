"""Property-based fuzzing of every file format archgan reads: the shipped architecture and training
files, a checkpoint's JSON files (tests/data) and attn_gan_pytorch .conf files (docs/examples/fagan_1),
mutated by hypothesis (keys deleted, values of the wrong type, extreme and non-finite numbers, deep
nesting, aliases, control characters, truncation). Whatever the mutation, the answer comes quickly and
is either a loaded file or an ArchganError that names a file: never another exception, never a hang."""
from __future__ import annotations

import contextlib
import copy
import io
import json
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import yaml
from conftest import REPO
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archgan.cli import main
from archgan.errors import ArchganError
from archgan.interop import attn_gan
from archgan.resources import architectures_dir
from archgan.spec import load_spec
from archgan.training.config import load_training_config

SECONDS_PER_FILE = 5.0  # generous for a loaded 2-core machine; a budget broken by a file takes minutes or forever


@dataclass(frozen=True)
class Source:
    path: Path
    kind: str  # "spec", "training" or "conf"
    data: Any


def _sources() -> list[Source]:
    sources = []
    for path in sorted(architectures_dir().glob("*/*.yaml")):
        sources.append(Source(path, "training" if path.stem == "training" else "spec", yaml.safe_load(path.read_text())))
    for path in sorted((REPO / "tests" / "data").glob("*/*.json")):
        if path.stem in ("generator", "discriminator", "training"):
            sources.append(Source(path, "training" if path.stem == "training" else "spec", json.loads(path.read_text())))
    for path in sorted((REPO / "docs" / "examples" / "fagan_1").glob("*.conf")):
        sources.append(Source(path, "conf", yaml.safe_load(path.read_text())))
    return sources


SOURCES = _sources()


def _deep(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


EXTREME = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-2**70, max_value=2**70),
    st.sampled_from([0, -1, 1, 2, 3, 4, 2**14 + 1, 2**31, 2**63, 10**30, 0.5, -0.0, 1e308]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=6),
    st.sampled_from(["(0, 0)", "(4, 4)", "(-1, 3)", "lrelu(nan)", "lrelu(1e999)", "True", "False", "conv",
                     "to_rgb", "from_rgb", "generator", "discriminator", "pggan", "same", "hinge", "$in", "$out",
                     "residual", "forward", "training"]),
    st.lists(st.integers(min_value=-3, max_value=600), max_size=4),
    st.dictionaries(st.sampled_from(["type", "channels", "use", "name", "layers", "repeat", "main", "params",
                                     "branches", "label"]), st.integers(-1, 9), max_size=2),
    st.builds(_deep, st.integers(min_value=30, max_value=80)),
)

CONTROL = st.sampled_from(["\x00", "\x01", "\x07", "\x1b", "\x7f", "\x85", "\ufffe"])


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, prefix + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, prefix + (index,))
    return found


def _bomb(levels: int) -> str:
    lines = [f"bomb0: &bomb0 [{', '.join(['1'] * 9)}]"]
    lines += [f"bomb{i}: &bomb{i} [{', '.join([f'*bomb{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


@st.composite
def mutated(draw) -> tuple[Source, str, str]:
    """(the source, the file name to write, the mutated text)."""
    source = draw(st.sampled_from(SOURCES))
    data = copy.deepcopy(source.data)
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        path = draw(st.sampled_from(_paths(data)))
        if not path:
            data = draw(EXTREME) if draw(st.integers(0, 9)) == 0 else data
            continue
        *parents, last = path
        container = data
        for key in parents:
            container = container[key]
        if draw(st.booleans()):
            del container[last]
        else:
            container[last] = draw(EXTREME)
    fmt = "yaml" if source.kind == "conf" else draw(st.sampled_from(["yaml", "json"]))
    text = yaml.safe_dump(data, sort_keys=False) if fmt == "yaml" else json.dumps(data, indent=1)
    damage = draw(st.sampled_from(["none", "none", "control", "truncate", "digits", "bomb", "alias"]))
    position = draw(st.integers(min_value=0, max_value=max(len(text) - 1, 0)))
    if damage == "control":
        text = text[:position] + draw(CONTROL) + text[position:]
    elif damage == "truncate":
        text = text[:position]
    elif damage == "digits":
        text = re.sub(r"\d+", "9" * draw(st.sampled_from([31, 4301, 6000])), text, count=1)
    elif damage == "bomb" and fmt == "yaml" and isinstance(data, dict):
        text = _bomb(draw(st.integers(min_value=2, max_value=12))) + text
    elif damage == "alias" and fmt == "yaml" and isinstance(data, dict):
        text = "anchor: &anchor [1, [2, *anchor]]\n" + text  # an alias inside its own anchor
    suffix = ".conf" if source.kind == "conf" else f".{fmt}"
    return source, f"{source.path.parent.name}-{source.path.stem}{suffix}", text


def _loaders(source: Source, path: Path) -> list[Callable[[], Any]]:
    if source.kind == "spec":
        return [lambda: load_spec(path)]
    if source.kind == "training":
        return [lambda: load_training_config(path)]
    return [lambda: attn_gan.read_conf(path), lambda: load_spec(path)]


def _names_a_file(message: str, path: Path) -> bool:
    """The error names the file it is about: ours, or a built-in one that ours names as its base."""
    return str(path) in message or str(architectures_dir()) in message


def _validate(arguments: list[str]) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(["validate", *arguments])
    return status, err.getvalue()


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_files_load_or_fail_cleanly(case):
    source, name, text = case
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_text(text, encoding="utf-8")
        for load in _loaders(source, path):
            started = time.perf_counter()
            try:
                load()
            except ArchganError as error:  # SpecError, SetupError, ...: the user's problem, described
                assert _names_a_file(str(error), path), str(error)
            assert time.perf_counter() - started < SECONDS_PER_FILE
        arguments = [str(path)]
        if source.kind == "training":  # with its own networks: the run plan's checks see the values too
            arguments = [str(source.path.parent / "generator.yaml"), str(source.path.parent / "discriminator.yaml"),
                         str(path)] if source.path.parent.parent == architectures_dir() else arguments
        started = time.perf_counter()
        status, error = _validate(arguments)
        assert time.perf_counter() - started < SECONDS_PER_FILE
        assert status in (0, 1) and "internal error" not in error, error
        assert status == 0 or _names_a_file(error, path), error


@settings(max_examples=4, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(mutated(), st.sampled_from(["validate", "show"]))
def test_mutated_files_through_the_real_command(case, command):
    _, name, text = case
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_text(text, encoding="utf-8")
        result = subprocess.run([sys.executable, "-m", "archgan", command, str(path)], capture_output=True,
                                text=True, timeout=60, check=False)
    assert result.returncode in (0, 1), result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr, result.stderr
