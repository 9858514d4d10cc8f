"""The workflows, composed here and nowhere else.

Each module is a leaf: it imports from `bot/`, never from another handler.
`ROUTED` lists the modules that own a gidgethub `router` (event handlers);
`COMMANDS` merges the slash commands the command modules declare in their own
`COMMANDS` registries. `bot/app.py` builds its router from `ROUTED` and hands
`COMMANDS` to every handler as `context.commands`.

Each module types its handlers (or its commands' `CommandCall`) with its own
`Doors`: the few parts of the context it uses. The two modules that run
commands (comments, governance_commands) pass the whole `HandlerContext` on,
since any command may run there. `doors_opened_by` proves, to mypy, that the
context every handler is given opens every module's doors.
"""

from __future__ import annotations

from types import ModuleType

from bot.commands.registry import Registry
from bot.context import HandlerContext
from handlers import (
    command_basics,
    command_decisions,
    command_details,
    command_people,
    comments,
    coordinators,
    cve,
    deadlines,
    embargo,
    fixes,
    governance,
    governance_commands,
    installations,
    links,
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
    embargo,
)

COMMANDS = Registry.of(
    command_basics.COMMANDS,
    command_decisions.COMMANDS,
    command_people.COMMANDS,
    command_details.COMMANDS,
    cve.COMMANDS,
    publication.COMMANDS,
    governance_commands.COMMANDS,
    links.COMMANDS,
    embargo.COMMANDS,
)


def doors_opened_by(context: HandlerContext) -> list[object]:
    """Each module's doors, as `context` opens them (mypy checks every line)."""
    installations_doors: installations.Doors = context
    triage_doors: triage.Doors = context
    title_tags_doors: title_tags.Doors = context
    published_doors: published.Doors = context
    deadlines_doors: deadlines.Doors = context
    coordinators_doors: coordinators.Doors = context
    fixes_doors: fixes.Doors = context
    cve_doors: cve.Doors = context
    governance_doors: governance.Doors = context
    basics_doors: command_basics.Doors = context
    decisions_doors: command_decisions.Doors = context
    people_doors: command_people.Doors = context
    details_doors: command_details.Doors = context
    publication_doors: publication.Doors = context
    links_doors: links.Doors = context
    embargo_doors: embargo.Doors = context
    return [
        installations_doors,
        triage_doors,
        title_tags_doors,
        published_doors,
        deadlines_doors,
        coordinators_doors,
        fixes_doors,
        cve_doors,
        governance_doors,
        basics_doors,
        decisions_doors,
        people_doors,
        details_doors,
        publication_doors,
        links_doors,
        embargo_doors,
    ]
