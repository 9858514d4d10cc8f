"""roster.toml: the team's canonical roster, or notes on a published list.

Canonical by default: its `members` are the team (PEP 811's list), each with
the name and roles as published; `steering_council` and `emeritus` complete it.
With `canonical = false` the file only adds notes (leave, inactivity) to the
members of the published list (`sources.roster`).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.core.config_schema import ConfigError, Key, Locator, Schema, TableOf, type_name, validate

DATE = r"\d{4}-\d{2}-\d{2}"

ROSTER_SCHEMA: Schema = {
    "canonical": Key(bool),
    "steering_council": Key(list, items=str),
    "emeritus": Key(list, items=dict),
    "members": TableOf(
        {
            "name": Key(str),
            "on_leave_until": Key(str, pattern=DATE, describe="a date, YYYY-MM-DD"),
            "inactive": Key(bool),
            "roles": Key(list, items=str),
        }
    ),
}


@dataclass(frozen=True)
class MemberNotes:
    """One member of roster.toml: the published name and roles, and what is not published."""

    on_leave_until: str | None = None  # YYYY-MM-DD
    inactive: bool = False
    roles: tuple[str, ...] = ()  # as published: "Admin", "Release Manager"
    name: str = ""
    login: str = ""  # as written in roster.toml (the mapping key is lower case)


@dataclass(frozen=True)
class FormerMember:
    """An emeritus member: a name, and a GitHub login when they have one."""

    name: str
    login: str = ""
    notes: str = ""


@dataclass(frozen=True)
class RosterNotes:
    """roster.toml. Canonical by default: its `members` are the team (PEP 811's list).
    With `canonical = false` they are notes on the members of the published list
    (sources.roster), whose entries count only once the GitHub team confirms them."""

    steering_council: frozenset[str] = frozenset()
    members: Mapping[str, MemberNotes] = field(default_factory=dict)
    canonical: bool = True
    emeritus: tuple[FormerMember, ...] = ()
    path: Path | None = None


def parse_roster_notes(text: str, path: Path) -> RosterNotes:
    """The roster TOML: steering-council members, leave, inactivity, extra roles."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    locator = Locator(text)
    validate(data, ROSTER_SCHEMA, (), path, locator)
    canonical = bool(data.get("canonical", True))
    members = {}
    for login, notes in data.get("members", {}).items():
        if not re.fullmatch(LOGIN, login):
            raise ConfigError(
                f"{path}, line {locator.line(('members', login))}: members.{login}: "
                "expected a GitHub login as the table name"
            )
        if canonical and not notes.get("name"):
            raise ConfigError(
                f"{path}, line {locator.line(('members', login))}: [members.{login}] is missing "
                "required key 'name' (the roster is canonical: every member has a published "
                "name; `canonical = false` makes the file notes on the published list)"
            )
        members[login.lower()] = MemberNotes(
            on_leave_until=notes.get("on_leave_until"),
            inactive=notes.get("inactive", False),
            roles=tuple(notes.get("roles", ())),
            name=notes.get("name", ""),
            login=login,
        )
    council = frozenset(login.lower() for login in data.get("steering_council", ()))
    emeritus = tuple(
        _former_member(item, path, locator.line(("emeritus",))) for item in data.get("emeritus", ())
    )
    return RosterNotes(
        steering_council=council,
        members=members,
        canonical=canonical,
        emeritus=emeritus,
        path=path,
    )


LOGIN = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})"


def _former_member(item: Mapping[str, Any], path: Path, line: str) -> FormerMember:
    where = f"{path}, line {line}: emeritus"
    unknown = sorted(set(item) - {"name", "login", "notes"})
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}; allowed: login, name, notes")
    values = {key: item.get(key, "") for key in ("name", "login", "notes")}
    for key, value in values.items():
        if not isinstance(value, str):
            raise ConfigError(f"{where}: {key} must be a string, got {type_name(value)}")
    if not values["name"]:
        raise ConfigError(f"{where}: every entry needs a name; got {dict(item)!r}")
    if values["login"] and not re.fullmatch(LOGIN, values["login"]):
        raise ConfigError(f"{where}: {values['login']!r} is not a GitHub login")
    return FormerMember(**values)
