"""Validating TOML against a declared schema, with errors that name file, key and line.

Every key a configuration file may hold is declared as a :class:`Key` (its type,
whether it is required, its default, its bounds, choices or pattern); unknown
keys are refused with the nearest known one suggested. `tomllib` keeps no
positions, so :class:`Locator` finds each dotted key's line in the text.

A key is declared once, as a field of the dataclass that holds its value:
:func:`option` (or :func:`required`) makes the dataclass field and its
:class:`Key` from one call, :func:`keys_of` and :func:`tables_of` read the schema
back from the dataclasses, and :func:`build` makes the dataclass from a
validated table. The default therefore lives in one place, the `option` call.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


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
    minimum: int | None = None  # for integers (and arrays' items): the smallest allowed (else 0)
    maximum: int | None = None  # for integers (and arrays' items): the largest value allowed
    default: Any = None  # the value when the key is absent (the dataclass field's default)
    # The value as the dataclass holds it (a tuple, a path resolved against the file's
    # folder); may raise ConfigError naming the place. Only applied to values the file sets.
    convert: Callable[[Any, Place], Any] | None = None


@dataclass(frozen=True)
class Place:
    """Where a value was read: the file, its lines, the dotted key."""

    path: Path
    locator: Locator
    dotted: tuple[str, ...]

    def where(self) -> str:
        return f"{self.path}, line {self.locator.line(self.dotted)}: {'.'.join(self.dotted)}"


# The dataclass field metadata entry that holds a declared key: (table, TOML name, Key).
_DECLARED = "ghsa_bot_config_key"


def _as_tuple(value: Any, _place: Place) -> Any:
    return tuple(value)


def option(
    default: T,
    kind: type | tuple[type, ...] | None = None,
    *,
    key: str = "",
    table: str = "",
    choices: tuple[str, ...] | None = None,
    pattern: str | None = None,
    describe: str = "",
    items: type | None = None,
    minimum: int | None = None,
    maximum: int | None = None,
    convert: Callable[[Any, Place], Any] | None = None,
) -> T:
    """A dataclass field that is a TOML key, declared once: default, type and bounds.

    `kind` is the TOML type (the default's type unless given; arrays become tuples);
    `key` the TOML name when it differs from the field's; `table` the table a field
    of the top-level dataclass is read from (`poller` for `interval_seconds`).
    """
    if kind is None:
        if default is None:
            raise TypeError("option(None) needs its kind")
        kind = list if isinstance(default, tuple) else type(default)
    if kind is list and convert is None:
        convert = _as_tuple
    declared = Key(
        kind,
        choices=choices,
        pattern=pattern,
        describe=describe,
        items=items,
        minimum=minimum,
        maximum=maximum,
        default=default,
        convert=convert,
    )
    return dataclasses.field(default=default, metadata={_DECLARED: (table, key, declared)})


def required(
    kind: type,
    *,
    choices: tuple[str, ...] | None = None,
    pattern: str | None = None,
    describe: str = "",
) -> Any:
    """A dataclass field that is a required TOML key (no default)."""
    declared = Key(kind, required=True, choices=choices, pattern=pattern, describe=describe)
    return dataclasses.field(metadata={_DECLARED: ("", "", declared)})


def _declared(cls: type) -> list[tuple[str, str, str, Key]]:
    """(field name, table, TOML name, Key) of each declared field of dataclass `cls`."""
    found = []
    for one in dataclasses.fields(cls):
        if _DECLARED in one.metadata:
            table, name, declared = one.metadata[_DECLARED]
            found.append((one.name, table, name or one.name, declared))
    return found


def keys_of(cls: type) -> dict[str, Key]:
    """The keys of a table, from the dataclass that holds it."""
    return {name: declared for _, table, name, declared in _declared(cls) if not table}


def tables_of(cls: type) -> dict[str, dict[str, Key]]:
    """The keys a dataclass reads from named tables (`option(..., table=...)`)."""
    tables: dict[str, dict[str, Key]] = {}
    for _, table, name, declared in _declared(cls):
        if table:
            tables.setdefault(table, {})[name] = declared
    return tables


def build(
    cls: type[T],
    raw: Mapping[str, Any],
    prefix: tuple[str, ...],
    path: Path,
    locator: Locator,
    **given: Any,
) -> T:
    """Dataclass `cls` from a validated table: each key the table sets (converted), the
    declared default for the rest, and `given` for the fields that are not keys."""
    values = dict(given)
    for field_name, table, name, declared in _declared(cls):
        source = raw.get(table, {}) if table else raw
        if name not in source:
            continue
        value = source[name]
        if declared.convert is not None:
            dotted = (*prefix, table, name) if table else (*prefix, name)
            value = declared.convert(value, Place(path, locator, dotted))
        values[field_name] = value
    return cls(**values)


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
    for item in value if isinstance(value, list) else [value]:  # an integer, or each one
        if isinstance(item, int) and not isinstance(item, bool):
            minimum = spec.minimum if spec.minimum is not None else 0
            if item < minimum:
                raise ConfigError(f"{where}: expected a number of at least {minimum}; got {item}")
            if spec.maximum is not None and item > spec.maximum:
                raise ConfigError(
                    f"{where}: expected a number of at most {spec.maximum}; got {item}"
                )


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
