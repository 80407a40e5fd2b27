"""Parse JSON and YAML text into plain data plus a map from JSON path to line number.

Values come from `json.loads` and PyYAML's SafeLoader (nothing in a file can run code); the line
map is built beside them so that every later error can point at the line it is about.
"""
from __future__ import annotations

import bisect
import json
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from .errors import JsonPath, Location, SpecError


@dataclass
class ParsedFile:
    """A file's data and where each value of it starts."""

    file: str
    data: Any
    lines: dict[JsonPath, int] = field(default_factory=dict)

    def locate(self, path: JsonPath) -> Location:
        """The location of `path`, falling back to its nearest ancestor's line."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(tuple(path[:end]))
            if line is not None:
                return Location(self.file, tuple(path), line)
        return Location(self.file, tuple(path))


def parse_text(text: str, file: str, fmt: str) -> ParsedFile:
    """Parse `text` as `fmt` ('json' or 'yaml'); syntax errors become a SpecError with line and column."""
    if not text.strip():
        raise SpecError.single(
            Location(file),
            "the file is empty",
            hint="an architecture file needs at least `network`, `image_channels` and `stages` "
            "(see architectures/pggan-small/ for a complete example)",
        )
    return _parse_json(text, file) if fmt == "json" else _parse_yaml(text, file)


# --------------------------------------------------------------------------------------- JSON


def _parse_json(text: str, file: str) -> ParsedFile:
    try:
        data = json.loads(text, object_pairs_hook=_reject_duplicate_keys)
    except json.JSONDecodeError as error:
        raise _json_syntax_error(text, file, error) from None
    except _DuplicateKey as duplicate:
        raise SpecError.single(
            Location(file),
            f"the key '{duplicate.key}' appears twice in one object",
            hint="each key may appear once; remove or rename one of them",
        ) from None
    return ParsedFile(file, data, _json_lines(text))


class _DuplicateKey(Exception):
    def __init__(self, key: str):
        self.key = key


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


def _json_syntax_error(text: str, file: str, error: json.JSONDecodeError) -> SpecError:
    location = Location(file, line=error.lineno)
    before = text[: error.pos].rstrip()
    if before.endswith(",") and text[error.pos : error.pos + 1] in ("}", "]"):
        return SpecError.single(
            location,
            f"JSON syntax error at column {error.colno}: a trailing comma before '{text[error.pos]}'",
            found=f"',' followed by '{text[error.pos]}'",
            allowed="no comma after the last item of an object or array",
            hint="remove the comma (JSON does not allow trailing commas; YAML files are more forgiving)",
        )
    return SpecError.single(
        location,
        f"JSON syntax error at column {error.colno}: {error.msg}",
        found=repr(text[error.pos : error.pos + 20]) if error.pos < len(text) else "end of file",
        hint="check the brackets, quotes and commas near this line",
    )


_WHITESPACE = re.compile(r"[ \t\n\r]*")


def _json_lines(text: str) -> dict[JsonPath, int]:
    """Line of every key and array item of a JSON text that is known to be valid."""
    newlines = [m.start() for m in re.finditer("\n", text)]
    decoder = json.JSONDecoder()
    lines: dict[JsonPath, int] = {}

    def line_at(index: int) -> int:
        return bisect.bisect_left(newlines, index) + 1

    def skip(index: int) -> int:
        return _WHITESPACE.match(text, index).end()  # type: ignore[union-attr]

    def value(index: int, path: JsonPath) -> int:
        index = skip(index)
        lines.setdefault(path, line_at(index))
        opener = text[index]
        if opener not in "{[":
            return decoder.raw_decode(text, index)[1]
        closer = "}" if opener == "{" else "]"
        index = skip(index + 1)
        item = 0
        while text[index] != closer:
            if opener == "{":
                key_line = line_at(index)
                key, index = json.decoder.scanstring(text, index + 1)
                lines[path + (key,)] = key_line
                index = skip(skip(index) + 1)  # past ':'
                index = value(index, path + (key,))
            else:
                index = value(index, path + (item,))
                item += 1
            index = skip(index)
            if text[index] == ",":
                index = skip(index + 1)
        return index + 1

    value(0, ())
    return lines


# --------------------------------------------------------------------------------------- YAML


def _parse_yaml(text: str, file: str) -> ParsedFile:
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise SpecError.single(Location(file), "the file holds only comments", hint="add the network's keys")
        _check_yaml_keys(node, file)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else None
        column = f" at column {mark.column + 1}" if mark else ""
        raise SpecError.single(
            Location(file, line=line),
            f"YAML syntax error{column}: {error.problem or error.context}",
            hint="check the indentation (spaces, not tabs), the colons after keys and the closing brackets",
        ) from None
    except yaml.YAMLError as error:
        raise SpecError.single(Location(file), f"YAML error: {error}") from None
    finally:
        loader.dispose()
    lines: dict[JsonPath, int] = {}
    _yaml_lines(node, (), lines, set())
    return ParsedFile(file, data, lines)


_MERGE_TAG = "tag:yaml.org,2002:merge"


def _check_yaml_keys(node: yaml.Node, file: str, seen: set[int] | None = None) -> None:
    """Reject duplicate and non-string keys, which PyYAML would silently accept."""
    seen = set() if seen is None else seen
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        first_line: dict[str, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                _check_yaml_keys(value_node, file, seen)
                continue
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != "tag:yaml.org,2002:str":
                raise SpecError.single(
                    Location(file, line=line),
                    "keys must be plain names",
                    found=str(getattr(key_node, "value", key_node)),
                    hint="write the key as text, e.g. `channels:`",
                )
            if key_node.value in first_line:
                raise SpecError.single(
                    Location(file, line=line),
                    f"the key '{key_node.value}' appears twice in one mapping (first on line {first_line[key_node.value]})",
                    hint="each key may appear once; remove or rename one of them",
                )
            first_line[key_node.value] = line
            _check_yaml_keys(value_node, file, seen)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _check_yaml_keys(item, file, seen)


def _yaml_lines(node: yaml.Node, path: JsonPath, lines: dict[JsonPath, int], active: set[int]) -> None:
    """Record the line of every key and item; merged (<<) keys point at the anchor that defines them."""
    if id(node) in active:  # a recursive alias: its lines are already recorded above
        return
    lines.setdefault(path, node.start_mark.line + 1)
    active.add(id(node))
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:  # already flattened by the constructor
            key_path = path + (key_node.value,)
            lines[key_path] = key_node.start_mark.line + 1
            _yaml_lines(value_node, key_path, lines, active)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _yaml_lines(item, path + (index,), lines, active)
    active.discard(id(node))
