"""Friendly errors for architecture files: every problem names the file, the JSON path, the line,
what was found, what is allowed and, when a name is a near miss, what was probably meant."""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Iterable, Sequence

from ..errors import ArchganError

PathElement = str | int
JsonPath = tuple[PathElement, ...]


def format_json_path(path: Sequence[PathElement]) -> str:
    """`("stages", 1, "layers", 0)` -> `$.stages[1].layers[0]`."""
    parts = ["$"]
    for element in path:
        parts.append(f"[{element}]" if isinstance(element, int) else f".{element}")
    return "".join(parts)


@dataclass(frozen=True)
class Location:
    """Where something sits in an architecture file. `line` is 1-based and None when unknown;
    `note` says which part of a template an expanded layer came from."""

    file: str
    path: JsonPath = ()
    line: int | None = None
    note: str = ""

    def child(self, element: PathElement) -> Location:
        return Location(self.file, self.path + (element,), self.line, self.note)

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        path = f": at {format_json_path(self.path)}" if self.path else ""
        note = f" ({self.note})" if self.note else ""
        return f"{where}{path}{note}"


def did_you_mean(name: object, candidates: Iterable[str]) -> str | None:
    """A 'did you mean' hint for a near-miss name (a typo: a letter missing, added, changed or two swapped),
    or None when nothing is that close. The cutoff 0.65 keeps real typos ('hinj' → 'hinge' scores 0.67)
    and drops names that merely share letters ('noise' and 'dense' 0.6, 'repeat' and 'reshape' 0.62)."""
    if not isinstance(name, str):
        return None
    matches = difflib.get_close_matches(name, sorted(set(candidates)), n=1, cutoff=0.65)
    return f"did you mean '{matches[0]}'?" if matches else None


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a file, in the words a user needs to fix it."""

    location: Location
    message: str
    found: str | None = None
    allowed: str | None = None
    hint: str | None = None

    def __str__(self) -> str:
        lines = [f"{self.location}: {self.message}"]
        if self.found is not None:
            lines.append(f"    found:   {self.found}")
        if self.allowed is not None:
            lines.append(f"    allowed: {self.allowed}")
        if self.hint:
            lines.append(f"    {self.hint}")
        return "\n".join(lines)


class SpecError(ArchganError, ValueError):
    """Raised for any problem in an architecture or training file; `str()` is the full report."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems = tuple(problems)
        super().__init__(str(self))

    @classmethod
    def single(cls, location: Location, message: str, **details: str | None) -> SpecError:
        return cls([Problem(location, message, **details)])

    def __str__(self) -> str:
        count = len(self.problems)
        header = "1 problem" if count == 1 else f"{count} problems"
        return f"{header}:\n" + "\n".join(str(p) for p in self.problems)
