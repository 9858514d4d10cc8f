"""The workflows, composed here and nowhere else.

Each module is a leaf: it imports from `bot/`, never from another handler.
`ROUTED` lists the modules that own a gidgethub `router` (event handlers);
`COMMANDS` merges the slash commands the command modules declare in their own
`COMMANDS` registries. `bot/app.py` builds its router from `ROUTED` and hands
`COMMANDS` to every handler as `context.commands`.
"""

from __future__ import annotations

from types import ModuleType

from bot.commands.registry import Registry
from handlers import (
    command_basics,
    command_decisions,
    command_details,
    command_people,
    comments,
    coordinators,
    cve,
    deadlines,
    fixes,
    governance,
    governance_commands,
    installations,
    publication,
    published,
    title_tags,
    triage,
)

ROUTED: tuple[ModuleType, ...] = (
    installations,
    triage,
    title_tags,
    published,
    deadlines,
    coordinators,
    comments,
    fixes,
    cve,
    governance,
    governance_commands,
)

COMMANDS = Registry.of(
    command_basics.COMMANDS,
    command_decisions.COMMANDS,
    command_people.COMMANDS,
    command_details.COMMANDS,
    cve.COMMANDS,
    publication.COMMANDS,
    governance_commands.COMMANDS,
)
