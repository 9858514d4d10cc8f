"""The workflows. Each module owns a gidgethub `router`; `MODULES` lists them all."""

from __future__ import annotations

from types import ModuleType

from handlers import coordinators, deadlines, installations, published, title_tags, triage

MODULES: tuple[ModuleType, ...] = (
    installations,
    triage,
    title_tags,
    published,
    deadlines,
    coordinators,
)
