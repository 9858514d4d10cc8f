"""Validating TOML against a declared schema, with errors that name file, key and line.

Every key a configuration file may hold is declared as a :class:`Key` (its type,
whether it is required, its choices or pattern); unknown keys are refused with
the nearest known one suggested. `tomllib` keeps no positions, so
:class:`Locator` finds each dotted key's line in the text.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class ConfigError(Exception):
    """An invalid configuration; `str()` is the message for the operator."""


@dataclass(frozen=True)
class Key:
    """One allowed key: its type, whether it is required, and its allowed values."""

    kind: type | tuple[type, ...]
    required: bool = False
    choices: tuple[str, ...] | None = None
    pattern: str | None = None
    describe: str = ""
    items: type | None = None  # for arrays: the type of every item
    minimum: int | None = None  # for integers: the smallest value allowed (else 0)
    maximum: int | None = None  # for integers: the largest value allowed


@dataclass(frozen=True)
class TableOf:
    """A table whose sub-tables all follow `keys` (like `[sources.NAME]`)."""

    keys: Mapping[str, Key]


Schema = Mapping[str, "Key | Mapping[str, Key] | TableOf"]


def validate(
    data: Mapping[str, Any], schema: Schema, prefix: tuple[str, ...], path: Path, locator: Locator
) -> None:
    for key, value in data.items():
        dotted = (*prefix, key)
        spec = schema.get(key)
        if spec is None:
            hint = difflib.get_close_matches(key, list(schema), n=1)
            suggestion = f" (did you mean {'.'.join((*prefix, hint[0]))!r}?)" if hint else ""
            allowed = ", ".join(sorted(schema))
            raise ConfigError(
                f"{path}, line {locator.line(dotted)}: unknown key {'.'.join(dotted)!r}"
                f"{suggestion}; allowed here: {allowed}"
            )
        if isinstance(spec, Key):
            check_value(value, spec, dotted, path, locator)
        elif isinstance(spec, TableOf):
            expect_table(value, dotted, path, locator)
            for name, sub in value.items():
                expect_table(sub, (*dotted, name), path, locator)
                validate(sub, spec.keys, (*dotted, name), path, locator)
                check_required(sub, spec.keys, (*dotted, name), path, locator)
        else:
            expect_table(value, dotted, path, locator)
            validate(value, spec, dotted, path, locator)
            check_required(value, spec, dotted, path, locator)


def check_required(
    data: Mapping[str, Any],
    schema: Mapping[str, Key],
    dotted: tuple[str, ...],
    path: Path,
    locator: Locator,
) -> None:
    for key, spec in schema.items():
        if spec.required and key not in data:
            raise ConfigError(
                f"{path}, line {locator.line(dotted)}: [{'.'.join(dotted)}] is missing "
                f"required key {key!r}"
            )


def expect_table(value: Any, dotted: tuple[str, ...], path: Path, locator: Locator) -> None:
    if not isinstance(value, dict):
        raise ConfigError(
            f"{path}, line {locator.line(dotted)}: {'.'.join(dotted)} must be a table, "
            f"got {type_name(value)}"
        )


def check_value(
    value: Any, spec: Key, dotted: tuple[str, ...], path: Path, locator: Locator
) -> None:
    where = f"{path}, line {locator.line(dotted)}: {'.'.join(dotted)}"
    kinds = spec.kind if isinstance(spec.kind, tuple) else (spec.kind,)
    if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
        expected = " or ".join(_TYPE_NAMES.get(kind, kind.__name__) for kind in kinds)
        raise ConfigError(f"{where}: expected {expected}, got {type_name(value)}")
    if spec.items is not None and isinstance(value, list):
        for item in value:
            if not isinstance(item, spec.items) or isinstance(item, bool):
                kind = {str: "strings", int: "integers"}.get(spec.items, spec.items.__name__)
                raise ConfigError(f"{where}: expected an array of {kind}; got {item!r}")
    for item in value if isinstance(value, list) else [value]:
        if spec.choices is not None and item not in spec.choices:
            nearest = difflib.get_close_matches(str(item), spec.choices, n=1)
            hint = f" (did you mean {nearest[0]!r}?)" if nearest else ""
            raise ConfigError(
                f"{where}: expected one of {', '.join(spec.choices)}; got {item!r}{hint}"
            )
    if spec.pattern is not None and not re.fullmatch(spec.pattern, str(value)):
        raise ConfigError(f"{where}: expected {spec.describe or spec.pattern}; got {value!r}")
    if isinstance(value, int) and not isinstance(value, bool):
        minimum = spec.minimum if spec.minimum is not None else 0
        if value < minimum:
            raise ConfigError(f"{where}: expected a number of at least {minimum}; got {value}")
        if spec.maximum is not None and value > spec.maximum:
            raise ConfigError(f"{where}: expected a number of at most {spec.maximum}; got {value}")


_TYPE_NAMES = {
    str: "a string",
    int: "an integer",
    bool: "true or false",
    float: "a number",
    list: "an array",
}


def type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return _TYPE_NAMES.get(type(value), type(value).__name__)


class Locator:
    """Finds the line of a dotted key in TOML text (tomllib does not keep positions)."""

    _HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?$")
    _ASSIGN = re.compile(r"^\s*([A-Za-z0-9_\-.\"' ]+?)\s*=")

    def __init__(self, text: str) -> None:
        self.positions: dict[tuple[str, ...], int] = {}
        table: tuple[str, ...] = ()
        for number, line in enumerate(text.splitlines(), start=1):
            header = self._HEADER.match(line)
            if header:
                table = self._split(header.group(1))
                self.positions.setdefault(table, number)
                continue
            assign = self._ASSIGN.match(line)
            if assign:
                key = (*table, *self._split(assign.group(1)))
                for depth in range(len(table) + 1, len(key) + 1):
                    self.positions.setdefault(key[:depth], number)

    @staticmethod
    def _split(dotted: str) -> tuple[str, ...]:
        return tuple(part.strip().strip("\"'") for part in dotted.split("."))

    def line(self, dotted: tuple[str, ...]) -> str:
        for depth in range(len(dotted), 0, -1):
            if dotted[:depth] in self.positions:
                return str(self.positions[dotted[:depth]])
        return "?"
