"""Options of registered things (layer types, losses, training settings): a JSON Schema fragment, a
default and a docs line in one place, so schemas, validation, defaults and docs never drift apart."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()


@dataclass(frozen=True)
class Option:
    """One option: its JSON Schema, its default (or REQUIRED) and a docs line.

    `normalize` rewrites a valid value into its canonical form (e.g. an activation name into a
    full activation entry) so that saved specs never depend on defaults that might change.
    `widen(value, scale)` says how a network's `width:` changes the option (a layer's channels), with
    `scale` mapping one channel count to the scaled one; None for options that are not widths.
    """

    schema: Mapping[str, Any]
    doc: str
    default: Any = REQUIRED
    normalize: Callable[[Any], Any] | None = None
    widen: Callable[[Any, Callable[[int], int]], Any] | None = None

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


def options_schema(options: Mapping[str, Option], strict: bool, const_type: str | None = None) -> dict[str, Any]:
    """JSON Schema of a mapping of these options (plus `type: const_type` when given); `strict`
    also requires the REQUIRED options (used once defaults are filled in)."""
    properties: dict[str, Any] = {"type": {"const": const_type}} if const_type else {}
    for name, option in options.items():
        properties[name] = dict(option.schema, description=option.doc) | (
            {} if option.required else {"default": option.default}
        )
    schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if strict:
        schema["required"] = (["type"] if const_type else []) + [n for n, o in options.items() if o.required]
    return schema


def with_defaults(options: Mapping[str, Option], given: Mapping[str, Any]) -> dict[str, Any]:
    """Every option in declaration order: the given value, else the default; normalized."""
    result = {}
    for name, option in options.items():
        if name in given or not option.required:
            value = given[name] if name in given else option.default
            result[name] = option.normalize(value) if option.normalize else value
    return result
