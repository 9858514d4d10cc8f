"""How each slash command is declared, once.

A module that declares commands owns a `COMMANDS = Registry()` and decorates
each command function with `@COMMANDS.command(...)`: its name, aliases, usage,
description, examples, the roles that may use it and the venues it is written
in. `handlers/__init__.py` merges the modules' registries into one
(`Registry.of`), which the app hands every handler as `context.commands`: the
command loop finds commands and checks roles there, and `/help` is written from
it. Nothing registers by being imported.
"""

from __future__ import annotations

import difflib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from bot.core.errors import Refused

ROLES = ("member", "admin", "coordinator", "reporter", "collaborator")
# Where a command is written: an advisory's comments, or the governance repository's issues.
VENUES = ("advisory", "governance")
ROLE_NAMES = {
    "member": "team members",
    "admin": "admins",
    "coordinator": "the coordinator",
    "reporter": "the reporter",
    "collaborator": "advisory collaborators",
}

CommandFunction = Callable[..., Awaitable[str]]

# Who drives an advisory: the roles most commands are for.
TEAM = ("member", "coordinator", "admin")


class CommandError(Refused):
    """A command could not do what was asked; the message says why (shown to the caller)."""


@dataclass(frozen=True)
class Command:
    name: str
    usage: str
    description: str
    roles: frozenset[str]
    function: CommandFunction
    aliases: tuple[str, ...] = ()
    examples: tuple[str, ...] = ()
    venues: tuple[str, ...] = ("advisory",)

    def allowed_for(self) -> str:
        return ", ".join(ROLE_NAMES[role] for role in ROLES if role in self.roles)


@dataclass
class Registry:
    commands: dict[str, Command] = field(default_factory=dict)
    names: dict[str, Command] = field(default_factory=dict)

    def command(
        self,
        name: str,
        *,
        usage: str,
        description: str,
        roles: tuple[str, ...],
        aliases: tuple[str, ...] = (),
        examples: tuple[str, ...] = (),
        venues: tuple[str, ...] = ("advisory",),
    ) -> Callable[[CommandFunction], CommandFunction]:
        unknown = (set(roles) - set(ROLES)) | (set(venues) - set(VENUES))
        if unknown:
            raise ValueError(f"/{name}: unknown roles or venues {sorted(unknown)}")

        def register(function: CommandFunction) -> CommandFunction:
            self.add(
                Command(
                    name, usage, description, frozenset(roles), function, aliases, examples, venues
                )
            )
            return function

        return register

    @classmethod
    def of(cls, *registries: Registry) -> Registry:
        """One registry with every command of `registries` (a word declared twice is an error)."""
        merged = cls()
        for registry in registries:
            for declared in registry.commands.values():
                merged.add(declared)
        return merged

    def add(self, declared: Command) -> None:
        for word in (declared.name, *declared.aliases):
            if word in self.names:
                raise ValueError(f"/{word} is declared twice")
            self.names[word] = declared
        self.commands[declared.name] = declared

    def find(self, verb: str, venue: str = "advisory") -> Command | None:
        declared = self.names.get(verb.lower())
        return declared if declared is not None and venue in declared.venues else None

    def venue_of(self, verb: str) -> str | None:
        """The first venue `verb` is declared for, or None for an unknown word."""
        declared = self.names.get(verb.lower())
        return declared.venues[0] if declared is not None else None

    def nearest(self, verb: str, venue: str = "advisory") -> str | None:
        words = [word for word, c in self.names.items() if venue in c.venues]
        matches = difflib.get_close_matches(verb.lower(), words, n=1, cutoff=0.5)
        return self.names[matches[0]].name if matches else None

    def help_text(self, venue: str = "advisory") -> str:
        lines = ["**Commands** (one per line, at the start of the line):", ""]
        listed = [c for c in self.commands.values() if venue in c.venues]
        for declared in sorted(listed, key=lambda c: c.name):
            aliases = (
                f" (also {', '.join('/' + a for a in declared.aliases)})"
                if declared.aliases
                else ""
            )
            lines.append(
                f"- `{declared.usage}`{aliases}: {declared.description} "
                f"*For {declared.allowed_for()}.*"
            )
            lines.extend(f"  - e.g. `{example}`" for example in declared.examples)
        lines += [
            "",
            "Commands in code, quotes or HTML comments are ignored, and so are commands in "
            "**confidential comments**: GitHub does not show those to the bot.",
        ]
        return "\n".join(lines)
