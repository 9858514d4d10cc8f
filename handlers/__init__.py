"""The workflows. Each module owns a gidgethub `router`; `MODULES` lists them all."""

from __future__ import annotations

from types import ModuleType

from handlers import (
    command_basics,
    command_workflow,
    comments,
    coordinators,
    cve,
    deadlines,
    fixes,
    governance,
    installations,
    publication,
    published,
    title_tags,
    triage,
)

MODULES: tuple[ModuleType, ...] = (
    installations,
    triage,
    title_tags,
    published,
    deadlines,
    coordinators,
    comments,
    fixes,
    cve,
    command_basics,  # the command modules register commands; their routers are empty
    command_workflow,
    publication,
    governance,
)
