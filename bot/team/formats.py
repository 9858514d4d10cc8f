"""Readers for the team files a project already keeps, in their own formats.

- `psrt-csv`: the devguide's `security/psrt.csv` (no header; name, GitHub
  login, notes such as `Admin` or `"Admin, Release Manager"`).
- `experts-rst`: the devguide's `core-team/experts.rst` simple tables; `*`
  marks people who may be assigned, `(inactive)` people are kept but marked.
- `codeowners`: GitHub's CODEOWNERS, gitignore-style patterns, last match wins.

Each reader takes text and returns plain data, raising :class:`FormatError`
with a line number for input it cannot read.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property


class FormatError(ValueError):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line


@dataclass(frozen=True)
class RosterEntry:
    name: str
    login: str
    roles: frozenset[str]


def parse_psrt_csv(text: str, *, login_required: bool = True) -> list[RosterEntry]:
    """psrt.csv; with `login_required=False`, psrt-emeritus.csv (some have no login)."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        return [entry for entry in _roster_rows(reader, login_required) if entry is not None]
    except csv.Error as error:
        raise FormatError(reader.line_num or 1, f"not CSV: {error}") from None


def _roster_rows(reader: Iterator[list[str]], login_required: bool) -> Iterator[RosterEntry | None]:
    for number, row in enumerate(reader, start=1):
        if not row or all(not cell.strip() for cell in row):
            yield None
            continue
        if len(row) < 2 or (login_required and not row[1].strip()):
            raise FormatError(number, "expected: name, GitHub login, notes")
        login = row[1].strip().removeprefix("@")
        if login and not re.fullmatch(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})", login):
            raise FormatError(number, f"{login!r} is not a GitHub login")
        notes = row[2] if len(row) > 2 else ""
        for label, value in (("name", row[0]), ("notes", notes)):
            hidden = next((ch for ch in value if _is_control(ch)), None)
            if hidden is not None:
                raise FormatError(
                    number,
                    f"the {label} holds the control character U+{ord(hidden):04X}, which no "
                    "published name has (and roster.toml cannot hold)",
                )
        roles = frozenset(part.strip() for part in notes.split(",") if part.strip())
        yield RosterEntry(row[0].strip(), login, roles)


# Bidirectional overrides and isolates: they make text read other than it is.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _is_control(character: str) -> bool:
    return unicodedata.category(character) == "Cc" or character in _BIDI_CONTROLS


@dataclass(frozen=True)
class Expert:
    login: str
    assignable: bool
    inactive: bool


@dataclass(frozen=True)
class ExpertArea:
    section: str
    name: str
    experts: tuple[Expert, ...]


_RULE = re.compile(r"^=+(?:\s+=+)+\s*$")
_UNDERLINE = re.compile(r"^([=\-~^\"'`#*+])\1+\s*$")


def parse_experts_rst(text: str) -> list[ExpertArea]:
    """Every simple-table row of the experts index, with its section title."""
    lines = text.splitlines()
    areas: list[ExpertArea] = []
    section = ""
    index = 0
    while index < len(lines):
        line = lines[index]
        following = lines[index + 1] if index + 1 < len(lines) else ""
        is_title = line.strip() and not _RULE.match(line) and _UNDERLINE.match(following)
        if is_title and len(following.strip()) >= len(line.strip()):
            section = line.strip()
        if _RULE.match(line):
            index = _read_table(lines, index, section, areas)
            continue
        index += 1
    return areas


def _read_table(lines: list[str], start: int, section: str, areas: list[ExpertArea]) -> int:
    rule = lines[start]
    split_at = re.search(r"\s+=", rule)
    assert split_at is not None
    column = split_at.end() - 1
    if start + 2 >= len(lines) or not _RULE.match(lines[start + 2]):
        raise FormatError(start + 1, "simple table without a header rule")
    rows: list[tuple[str, list[Expert]]] = []
    index = start + 3
    while index < len(lines) and not _RULE.match(lines[index]):
        line = lines[index]
        if line.strip():
            name = line[:column].strip()
            experts = _experts(line[column:], index + 1)
            if name:
                rows.append((name, experts))
            elif rows:
                rows[-1][1].extend(experts)
            else:
                raise FormatError(index + 1, "continuation row before any entry")
        index += 1
    if index >= len(lines):
        raise FormatError(start + 1, "simple table is not closed")
    areas.extend(ExpertArea(section, name, tuple(experts)) for name, experts in rows)
    return index + 1


def _experts(cell: str, line: int) -> list[Expert]:
    experts = []
    for part in cell.split(","):
        item = part.strip()
        if not item:
            continue
        inactive = "(inactive)" in item
        item = item.replace("(inactive)", "").strip()
        assignable = item.endswith("*")
        login = item.rstrip("*").strip().removeprefix("@")
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]*", login):
            raise FormatError(line, f"{item!r} is not a GitHub login")
        experts.append(Expert(login, assignable, inactive))
    return experts


@dataclass(frozen=True)
class OwnerRule:
    pattern: str
    owners: tuple[str, ...]
    line: int

    @cached_property
    def regex(self) -> re.Pattern[str]:
        return re.compile(_glob_to_regex(self.pattern))

    def matches(self, path: str) -> bool:
        return self.regex.search(path.lstrip("/")) is not None


def parse_codeowners(text: str) -> list[OwnerRule]:
    rules = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = re.split(r"(?<!\\)\s#", line, maxsplit=1)[0].strip()
        pattern, *owners = line.split()
        for owner in owners:
            if not (owner.startswith("@") or "@" in owner):
                raise FormatError(number, f"owner {owner!r} is not @user, @org/team or an email")
        rules.append(OwnerRule(pattern.replace("\\#", "#"), tuple(owners), number))
    return rules


def owners_for(rules: list[OwnerRule], path: str) -> tuple[str, ...]:
    """The owners of `path`: the last matching rule wins (a rule may name none)."""
    for rule in reversed(rules):
        if rule.matches(path):
            return rule.owners
    return ()


def _glob_to_regex(pattern: str) -> str:
    anchored = pattern.startswith("/") or "/" in pattern.rstrip("/")
    directory = pattern.endswith("/")
    body = pattern.strip("/")
    out = []
    index = 0
    while index < len(body):
        char = body[index]
        if body.startswith("**/", index):
            out.append("(?:.*/)?")
            index += 3
            continue
        if body.startswith("/**", index) and index + 3 == len(body):
            out.append("/.*")
            index += 3
            continue
        if body.startswith("**", index):
            out.append(".*")
            index += 2
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        else:
            out.append(re.escape(char))
        index += 1
    prefix = "^" if anchored else r"(?:^|/)"
    suffix = "/" if directory else "(?:$|/)"
    return prefix + "".join(out) + suffix
