"""Parse JSON and YAML text into plain data plus a map from JSON path to line number.

Values come from `json.loads` and PyYAML's SafeLoader (nothing in a file can run code); the line
map is built beside them so that every later error can point at the line it is about. Reading stays
within budgets (file size, nesting depth, values after YAML aliases are expanded, digits of an integer)
and refuses what no option can use (control characters, NaN and infinities), so that no file can make a
later step hang, exhaust memory or recurse without end.
"""
from __future__ import annotations

import bisect
import json
import math
import os
import re
import stat
from dataclasses import dataclass, field, replace
from pathlib import Path
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


MAX_FILE_BYTES = 2**20  # the largest built-in file is under 3 KB
MAX_DEPTH = 40  # nested mappings and lists, aliases expanded (a spec needs about 8)
MAX_VALUES = 100_000  # keys, items and scalars, aliases expanded (a built-in has under 2,000)
MAX_INT_DIGITS = 30  # beyond every bound an option has, and far below Python's 4,300-digit limit
_NOT_PRINTABLE = yaml.reader.Reader.NON_PRINTABLE  # what YAML refuses: control characters but tab and newlines


def format_of(path: str | os.PathLike[str]) -> str:
    """'json' for .json files (parsed as JSON, never as YAML), else 'yaml' (.yaml, .yml, .conf)."""
    return "json" if Path(path).suffix.lower() == ".json" else "yaml"


def read_text(path: str | os.PathLike[str]) -> str:
    """The UTF-8 text of a regular file of at most MAX_FILE_BYTES; a folder, FIFO or device (reading one
    could block forever), a missing, unreadable, oversized or binary file is a SpecError naming it."""
    location = Location(str(path))
    try:
        info = os.stat(path)
    except (OSError, ValueError) as error:
        raise SpecError.single(location, f"cannot read the file: {getattr(error, 'strerror', None) or error}") from None
    if stat.S_ISDIR(info.st_mode):
        raise SpecError.single(location, "this is a folder, not a file", hint="name a file inside it")
    if not stat.S_ISREG(info.st_mode):
        raise SpecError.single(location, "this is not a regular file (a FIFO, socket or device), which could block "
                               "or never end", hint="save its contents to a file and pass that file")
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        raise SpecError.single(location, f"cannot read the file: {error.strerror}") from None
    if len(data) > MAX_FILE_BYTES:
        raise SpecError.single(location, f"the file is larger than {MAX_FILE_BYTES:,} bytes, the most archgan reads",
                               hint="architecture, training and .conf files are small text files: is this the right file?")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise SpecError.single(Location(str(path), line=line), "the file is not UTF-8 text",
                               found=f"the byte 0x{data[error.start]:02x}", hint="save the file as UTF-8") from None


def read_file(path: str | os.PathLike[str]) -> ParsedFile:
    """Read and parse a file by its name: JSON for .json, YAML for everything else."""
    return parse_text(read_text(path), str(path), format_of(path))


def parse_text(text: str, file: str, fmt: str) -> ParsedFile:
    """Parse `text` as `fmt` ('json' or 'yaml'); syntax errors and broken budgets become a SpecError with
    line and column."""
    if not text.strip():
        raise SpecError.single(
            Location(file),
            "the file is empty",
            hint="an architecture file needs at least `network`, `image_channels` and `stages` "
            "(see architectures/pggan-small/ for a complete example)",
        )
    if len(text) > MAX_FILE_BYTES:
        raise SpecError.single(Location(file), f"the text is longer than {MAX_FILE_BYTES:,} characters, the most archgan reads")
    _check_printable(text, file)
    return _parse_json(text, file) if fmt == "json" else _parse_yaml(text, file)


def _line_of(text: str, index: int) -> int:
    return text.count("\n", 0, index) + 1


def _check_printable(text: str, file: str) -> None:
    character = _NOT_PRINTABLE.search(text)
    if character is None:
        return
    index = character.start()
    column = index - text.rfind("\n", 0, index)
    raise SpecError.single(
        Location(file, line=_line_of(text, index)),
        f"a control character (U+{ord(character.group()):04X}) at column {column}",
        hint="architecture, training and .conf files are plain text: remove it (is this a binary file?)",
    )


def _too_deep(location: Location) -> SpecError:
    return SpecError.single(location, f"mappings and lists are nested more than {MAX_DEPTH} levels deep",
                            hint="no option nests this deep: check the brackets (and the aliases) near this line")


def _not_finite(location: Location, value: str) -> SpecError:
    return SpecError.single(location, "numbers must be finite", found=value, hint="write a finite number")


def _too_many_digits(location: Location, value: str) -> SpecError:
    return SpecError.single(location, f"an integer with {len(value)} digits (at most {MAX_INT_DIGITS})",
                            found=value[:20] + "...", hint="no option takes a number this large")


# --------------------------------------------------------------------------------------- JSON


def _parse_json(text: str, file: str) -> ParsedFile:
    _check_json_depth(text, file)

    def refuse(error: SpecError, literal: str) -> None:
        raise _Refused(error, literal)

    def parse_int(literal: str) -> int:
        if len(literal.lstrip("-")) > MAX_INT_DIGITS:
            refuse(_too_many_digits(Location(file), literal.lstrip("-")), literal)
        return int(literal)

    def parse_float(literal: str) -> float:
        if not math.isfinite(float(literal)):
            refuse(_not_finite(Location(file), literal), literal)
        return float(literal)

    def parse_constant(literal: str) -> None:  # NaN, Infinity, -Infinity: not JSON, and not finite
        refuse(_not_finite(Location(file), literal), literal)

    try:
        data = json.loads(text, object_pairs_hook=_reject_duplicate_keys, parse_int=parse_int,
                          parse_float=parse_float, parse_constant=parse_constant)
    except _Refused as refused:
        problem = refused.error.problems[0]
        line = _line_of(text, max(text.find(refused.literal), 0))
        raise SpecError([replace(problem, location=Location(file, line=line))]) from None
    except json.JSONDecodeError as error:
        raise _json_syntax_error(text, file, error) from None
    except _DuplicateKey as duplicate:
        raise SpecError.single(
            Location(file),
            f"the key '{duplicate.key}' appears twice in one object",
            hint="each key may appear once; remove or rename one of them",
        ) from None
    return ParsedFile(file, data, _json_lines(text))


class _Refused(Exception):
    """A value refused inside json.loads' hooks, which do not know where it is; `literal` finds its line."""

    def __init__(self, error: SpecError, literal: str):
        self.error, self.literal = error, literal


_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def _check_json_depth(text: str, file: str) -> None:
    """Bracket depth outside strings, before json.loads (whose C parser recurses) sees the text."""
    depth = 0
    for token in _JSON_TOKEN.finditer(text):
        bracket = token.group()
        if bracket in ("[", "{"):
            depth += 1
            if depth > MAX_DEPTH:
                raise _too_deep(Location(file, line=_line_of(text, token.start())))
        elif bracket in ("]", "}"):
            depth -= 1


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


class _BudgetLoader(yaml.SafeLoader):
    """PyYAML's safe loader, composing at most MAX_DEPTH levels (its composer recurses once per level)."""

    def __init__(self, text: str, file: str):
        super().__init__(text)
        self.file, self.depth = file, 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        if self.depth >= MAX_DEPTH:
            raise _too_deep(Location(self.file, line=self.peek_event().start_mark.line + 1))
        self.depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def _parse_yaml(text: str, file: str) -> ParsedFile:
    try:
        loader = _BudgetLoader(text, file)
    except yaml.YAMLError as error:
        raise SpecError.single(Location(file), f"YAML error: {error}") from None
    try:
        node = loader.get_single_node()
        if node is None:
            raise SpecError.single(Location(file), "the file holds only comments", hint="add the network's keys")
        _check_budgets(node, file, loader)
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
    _yaml_lines(node, (), lines)
    return ParsedFile(file, data, lines)


_INT_TAG, _FLOAT_TAG = "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"


def _check_budgets(root: yaml.Node, file: str, loader: yaml.SafeLoader) -> None:
    """The document as its data will be, aliases expanded: at most MAX_VALUES values and MAX_DEPTH levels
    (a few aliases of aliases can stand for billions of values), no alias inside its own anchor, integers
    of at most MAX_INT_DIGITS digits and finite floats. Each node is visited once."""
    expanded: dict[int, tuple[int, int]] = {}  # id(node) -> (values, levels) once expanded
    active: set[int] = set()

    def at(node: yaml.Node) -> Location:
        return Location(file, line=node.start_mark.line + 1)

    def visit(node: yaml.Node, depth: int) -> tuple[int, int]:
        if id(node) in active:
            raise SpecError.single(at(node), "an alias inside the anchor it names: the value would contain itself",
                                   hint="an alias (*name) may only repeat a value defined before it, outside it")
        if id(node) not in expanded:
            active.add(id(node))
            expanded[id(node)] = _expand(node, depth)
            active.discard(id(node))
        values, levels = expanded[id(node)]
        if depth + levels > MAX_DEPTH:
            raise _too_deep(at(node))
        return values, levels

    def _expand(node: yaml.Node, depth: int) -> tuple[int, int]:
        if isinstance(node, yaml.ScalarNode):
            _check_scalar(node)
            return 1, 0
        children = [child for pair in node.value for child in pair] if isinstance(node, yaml.MappingNode) else node.value
        values, levels = 1, 0
        for child in children:
            child_values, child_levels = visit(child, depth + 1)
            values, levels = values + child_values, max(levels, child_levels + 1)
            if values > MAX_VALUES:
                raise SpecError.single(at(node), f"the file holds more than {MAX_VALUES:,} values once its aliases "
                                       "are expanded", hint="repeat less through aliases (*name), or split the file")
        return values, levels

    def _check_scalar(node: yaml.ScalarNode) -> None:
        if node.tag == _INT_TAG:
            digits = re.sub(r"[^0-9a-fA-F]", "", node.value)
            if len(digits) > MAX_INT_DIGITS:
                raise _too_many_digits(at(node), digits)
        elif node.tag == _FLOAT_TAG and not math.isfinite(loader.construct_yaml_float(node)):
            raise _not_finite(at(node), node.value)

    visit(root, 1)


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


def _yaml_lines(node: yaml.Node, path: JsonPath, lines: dict[JsonPath, int]) -> None:
    """Record the line of every key and item; merged (<<) keys point at the anchor that defines them.
    A walk of the expanded tree, which `_check_budgets` has bounded."""
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:  # already flattened by the constructor
            key_path = path + (key_node.value,)
            lines[key_path] = key_node.start_mark.line + 1
            _yaml_lines(value_node, key_path, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _yaml_lines(item, path + (index,), lines)
