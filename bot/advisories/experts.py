"""Who knows the code a report is about: the experts index and CODEOWNERS, merged.

Pure functions. `modules_in` finds the modules a report names (in its summary,
description, `vulnerable_functions` and package names, and through file paths
such as `Lib/tarfile.py`). `suggest` looks them up in the experts index
(`*` marks people who may be assigned; `(inactive)` people are skipped) and in
CODEOWNERS (the owners of the module's files and of any path the report
names), and merges them without the reporter or duplicates.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.team.data import TeamData
from bot.team.formats import ExpertArea, OwnerRule, owners_for

# Module names that are also everyday words: counted only when written as code
# (`email`, email.message, import email, Lib/email/...), not in prose.
_COMMON_WORDS = frozenset(
    [
        "abc",
        "array",
        "ast",
        "bisect",
        "code",
        "codecs",
        "copy",
        "email",
        "enum",
        "errno",
        "glob",
        "io",
        "json",
        "keyword",
        "locale",
        "logging",
        "mailbox",
        "math",
        "numbers",
        "operator",
        "os",
        "platform",
        "queue",
        "random",
        "re",
        "secrets",
        "select",
        "signal",
        "site",
        "socket",
        "string",
        "struct",
        "symtable",
        "time",
        "token",
        "trace",
        "types",
        "warnings",
        "wave",
    ]
)
_PATH = re.compile(
    r"\b(?:Lib|Modules|Objects|Python|Include|Parser|Tools|PC|Mac|Misc|Doc)/[\w./-]+"
)


@dataclass
class Suggestion:
    login: str
    reasons: list[str] = field(default_factory=list)
    assignable: bool = False


def report_text(advisory: Mapping[str, Any]) -> str:
    parts = [str(advisory.get("summary") or ""), str(advisory.get("description") or "")]
    for vulnerability in advisory.get("vulnerabilities") or []:
        package = vulnerability.get("package") or {}
        parts.append(str(package.get("name") or ""))
        parts.extend(str(name) for name in vulnerability.get("vulnerable_functions") or [])
    return "\n".join(parts)


def modules_in(text: str, known: Iterable[str]) -> list[str]:
    """Known module names the text mentions, in order of first mention."""
    found: dict[str, int] = {}
    for name in known:
        if " " in name:
            continue  # interest areas ("memory management") are not module names
        escaped = re.escape(name)
        if name.lower() in _COMMON_WORDS:
            pattern = (
                rf"(?:`{escaped}(?:\.\w+)*`|\bimport {escaped}\b|\bfrom {escaped}\b"
                rf"|\b{escaped}\.\w|Lib/{escaped}\b)"
            )
        else:
            pattern = rf"(?<![\w.]){escaped}(?![\w])"
        match = re.search(pattern, text, flags=0 if name.lower() in _COMMON_WORDS else re.I)
        if match:
            found[name] = match.start()
    # A dotted name found means its parent need not be listed separately first.
    return sorted(found, key=lambda name: (found[name], -len(name)))


def paths_in(text: str) -> list[str]:
    return sorted({match.rstrip(".,:;)") for match in _PATH.findall(text)})


def module_paths(module: str) -> list[str]:
    """Where a standard-library module's code lives in CPython."""
    path = module.replace(".", "/")
    top = module.split(".", 1)[0]
    return [f"Lib/{path}.py", f"Lib/{path}/__init__.py", f"Modules/_{top}module.c"]


# The team files experts are found in, by source name.
EXPERT_SOURCES = ("experts", "codeowners")


class TeamFilesNotLoaded(RuntimeError):
    """A team file the configuration names is not read yet (GitHub failed, or the bot
    just started): the handler fails and its delivery is retried, rather than
    suggesting or tagging nobody for good."""


def require_team_files(sources: Iterable[str], team: TeamData | None) -> None:
    """Raise TeamFilesNotLoaded when one of `sources` the team reads experts from
    (the configuration's source names) has not been loaded."""
    missing = [
        name
        for name in EXPERT_SOURCES
        if name in sources and (team is None or team.get(name) is None)
    ]
    if missing:
        names = ", ".join(f"sources.{name}" for name in missing)
        raise TeamFilesNotLoaded(f"{names} not loaded yet; the delivery is retried")


def suggest_for_team(
    team: TeamData | None,
    advisory: Mapping[str, Any],
    *,
    exclude: Iterable[str] = (),
    teams: bool = False,
) -> tuple[list[str], list[Suggestion]]:
    """`suggest` with the team's own experts index and CODEOWNERS."""
    return suggest(
        advisory,
        index=team.get("experts") if team else None,
        codeowners=team.get("codeowners") if team else None,
        exclude=exclude,
        teams=teams,
    )


def suggest(
    advisory: Mapping[str, Any],
    *,
    index: Sequence[ExpertArea] | None,
    codeowners: Sequence[OwnerRule] | None,
    exclude: Iterable[str] = (),
    teams: bool = False,
) -> tuple[list[str], list[Suggestion]]:
    """The modules a report is about, and who to suggest for them.

    Every login comes from the index or CODEOWNERS, never from the report: its text
    only selects entries. CODEOWNERS teams (`org/team`) are included with `teams`.
    """
    text = report_text(advisory)
    areas = {area.name: area for area in index or ()}
    modules = modules_in(text, {*areas, *codeowner_modules(codeowners or ())})
    people: dict[str, Suggestion] = {}
    skip = {login.lower() for login in exclude}

    def add(login: str, reason: str, assignable: bool) -> None:
        if login.lower() in skip:
            return
        entry = people.setdefault(login.lower(), Suggestion(login))
        if reason not in entry.reasons:
            entry.reasons.append(reason)
        entry.assignable = entry.assignable or assignable

    for module in modules:
        for expert in areas[module].experts if module in areas else ():
            if not expert.inactive:
                add(expert.login, f"{module} (experts index)", expert.assignable)
    if codeowners:
        candidates = [*paths_in(text)]
        for module in modules or modules_in(text, _modules_from_paths(candidates)):
            candidates.extend(module_paths(module))
        for path in candidates:
            for owner in owners_for(list(codeowners), path):
                if owner.startswith("@") and (teams or "/" not in owner):
                    add(owner[1:], f"{path} (CODEOWNERS)", False)
    return modules, list(people.values())


_LIB_MODULE = re.compile(r"^/?Lib/([A-Za-z_]\w*)(?:\.py$|/)")


def codeowner_modules(rules: Iterable[OwnerRule]) -> set[str]:
    """Standard-library modules CODEOWNERS names by path (`Lib/tarfile.py` is `tarfile`)."""
    names = set()
    for rule in rules:
        match = _LIB_MODULE.match(rule.pattern)
        if match and match.group(1) != "test":
            names.add(match.group(1))
    return names


def _modules_from_paths(paths: Iterable[str]) -> list[str]:
    return [path.split("/", 2)[1].removesuffix(".py") for path in paths if path.startswith("Lib/")]


# A report can name every module and thousands of paths (its text is the
# reporter's): the comment lists at most this many of each, so it always fits.
LISTED_MODULES = 20
LISTED_PEOPLE = 30
LISTED_REASONS = 3


def _some(items: Sequence[str], limit: int, separator: str) -> str:
    more = f"{separator}and {len(items) - limit} more" if len(items) > limit else ""
    return separator.join(items[:limit]) + more


def suggestion_comment(modules: Sequence[str], people: Sequence[Suggestion]) -> str:
    shown = _some([f"`{m[:100]}`" for m in modules], LISTED_MODULES, ", ")
    lines = [
        f"**Experts** for what this report is about ({shown or 'the files it names'}):",
        "",
    ]
    for person in people[:LISTED_PEOPLE]:
        star = " (may be assigned)" if person.assignable else ""
        reasons = _some([r[:200] for r in person.reasons], LISTED_REASONS, "; ")
        lines.append(f"- {person.login}{star}: {reasons}")
    if len(people) > LISTED_PEOPLE:
        lines.append(f"- and {len(people) - LISTED_PEOPLE} more")
    lines += [
        "",
        "Coordinators: invite the ones this needs with `/invite @user`. Only people who "
        "need to know should see an embargoed report.",
    ]
    return "\n".join(lines)
