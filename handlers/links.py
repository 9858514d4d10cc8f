"""Linked advisories: /affects, /link and /unlink, and what a link shares.

GitHub has no link between two repository advisories, no shared embargo and
no way to publish several at once; the bot keeps the links
(bot/advisories/links.py) and acts on the whole group (bot/advisories/groups.py;
bot/records/linked.py for /status and /publish, handlers/cve.py for /cve,
handlers/embargo.py for /embargo, its reminders and a lone publication).

- `/affects OWNER/REPO [--package NAME] [--ecosystem ECOSYSTEM] [NOTE]` opens a
  draft in a repository the App is installed on, with this advisory's title,
  description, CVSS vector (or severity) and CWEs, the package when given, and
  the coordinator's credit; then links the two.
- `/link [OWNER/REPO] GHSA-...` links an existing advisory of any installed
  repository; `/unlink GHSA-...` undoes a link. Each is one comment on both
  advisories naming the other, and an entry in both audit logs.

Access: the team where the repository is in the team's organization; elsewhere
the coordinator and the member who asked, as collaborating users. A credit
never grants access (every collaborator, the reporter too, can edit credits).
Each side effect is keyed (effects, hidden markers), so a retried delivery or a
repeated command does it once. A comment on one advisory never quotes another
advisory's title or text.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import replace
from typing import Any, Protocol

from bot.advisories.comments import post_once
from bot.advisories.groups import (
    GHSA_ID,
    REPOSITORY,
    GroupMember,
    GroupReader,
    access_patch,
    coordinator_credit_patch,
    draft_body,
    failure,
    find_marked,
    group_coordinator,
    group_received_at,
    member_name,
)
from bot.advisories.links import MAX_GROUP, LinkStore, Member
from bot.advisories.store import AdvisoryRecord
from bot.commands.registry import TEAM, CommandError, Registry
from bot.context import (
    CommandCall,
    HasAdvisoryStore,
    HasApp,
    HasClock,
    HasConfig,
    HasGitHub,
    HasInstallations,
    HasTeam,
)

COMMANDS = Registry()


class Doors(
    HasApp, HasInstallations, HasAdvisoryStore, HasClock, HasConfig, HasTeam, HasGitHub, Protocol
):
    """What the link commands and the group's event handlers use."""


ECOSYSTEMS = (
    *("pip", "npm", "rubygems", "maven", "nuget", "composer", "go", "rust", "erlang"),
    *("actions", "pub", "other", "swift"),
)
PACKAGE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/@:-]{0,213}")
MAX_NOTE = 1000


def not_installed(repository: str) -> str:
    return (
        f"the App is not installed on {repository}, so the bot cannot open or read "
        "advisories there. Ask that project's maintainers to install the App on the "
        "repository (an organization owner or repository admin can), or to open the "
        "advisory themselves and add the team's members to it by hand; then `/link` it"
    )


def _reader(call: CommandCall[Doors]) -> GroupReader:
    doors = call.context
    return GroupReader(
        doors.app,
        doors.installations,
        doors.advisories,
        doors.clock,
        delivery=call.handle.delivery,
    )


# -- /affects ---------------------------------------------------------------------------


def _affects_arguments(words: list[str]) -> tuple[str, str | None, str, str]:
    """(repository, package, ecosystem, note) from `/affects`'s words."""
    if not words or not REPOSITORY.fullmatch(words[0]):
        raise CommandError("name the repository as OWNER/REPO", show_usage=True)
    package, ecosystem, note = None, "pip", []
    rest = iter(words[1:])
    for word in rest:
        if word in ("--package", "--ecosystem"):
            value = next(rest, "")
            if word == "--package":
                if not PACKAGE.fullmatch(value):
                    raise CommandError("give the package's name after --package", show_usage=True)
                package = value
            elif value.lower() not in ECOSYSTEMS:
                raise CommandError(f"the ecosystem is one of {', '.join(ECOSYSTEMS)}")
            else:
                ecosystem = value.lower()
        else:
            note.append(word)
    return words[0], package, ecosystem, " ".join(note)[:MAX_NOTE]


@COMMANDS.command(
    "affects",
    usage="/affects OWNER/REPO [--package NAME] [--ecosystem ECOSYSTEM] [NOTE]",
    roles=TEAM,
    description="Opens a draft advisory in another repository the App is installed on (same "
    "title, description, CVSS or severity, CWEs; the package when given, ecosystem `pip` "
    "unless said), credits the coordinator, gives the team's working members access, and "
    "links the two. The note is posted on the new draft.",
    examples=("/affects pypa/pip --package pip vendored copy in pip/_vendor",),
)
async def affects(call: CommandCall[Doors]) -> str:
    target, package, ecosystem, note = _affects_arguments(call.arguments)
    doors = call.context
    if target.lower() == call.repository.lower():
        raise CommandError("this advisory is in that repository already")
    if call.advisory.get("state") not in ("triage", "draft"):
        raise CommandError(f"this advisory is {call.advisory.get('state')}: nothing to share")
    reader = _reader(call)
    installation = await reader.installation_of(target)
    if installation is None:
        raise CommandError(not_installed(target), show_usage=False)
    here: Member = (call.repository, call.ghsa_id)
    group = await doors.advisories.linked_group(*here)
    present = [m for m in group if m[0].lower() == target.lower()]
    if present:
        return f"Already linked with {member_name(present[0])}; nothing was opened."
    if len(group) >= MAX_GROUP:
        raise CommandError(f"a linked group holds at most {MAX_GROUP} advisories")
    members = await reader.members(call.handle, call.record)
    coordinator = group_coordinator(members)
    key = f"affects:{call.repository}:{call.ghsa_id}:{target.lower()}"
    tag = f"<!-- ghsa-bot:affects:{doors.advisories.digester.digest(key)[:20]} -->"
    created = None
    if await doors.advisories.effect_done(key + ":attempted"):
        created = await find_marked(reader, target, tag)  # an earlier attempt's draft
        if created is not None and await doors.advisories.effect_done(key):
            return (
                f"An advisory was opened in {target} from this one before "
                f"({created['ghsa_id']}) and later unlinked: `/link {target} "
                f"{created['ghsa_id']}` links it again."
            )
    client = doors.app.installation(installation)
    if created is None:
        await doors.advisories.record_effect(key + ":attempted", at=doors.clock.now())
        body = draft_body(
            call.advisory, package=package, ecosystem=ecosystem, coordinator=coordinator, tag=tag
        )
        created = await client.post(f"/repos/{target}/security-advisories", data=body)
    other = await reader.read(target, str(created["ghsa_id"]))
    if other.handle is None:
        raise CommandError(f"GitHub opened {created['ghsa_id']} in {target} but it cannot be read")
    now = doors.clock.now()
    record = AdvisoryRecord(
        target,
        other.ghsa_id,
        installation,
        "draft",
        None,
        coordinator,
        now,
        None,
        now,
        None,
        None,
        coordinator_since=now if coordinator else None,
    )
    if await doors.advisories.get(*other.key) is None:
        await doors.advisories.save(record)
    other.record = await doors.advisories.get(*other.key)
    await doors.advisories.set_fingerprint(target, other.ghsa_id, other.handle.advisory)
    outcome = await _join(call, other, coordinator, how="/affects", note=note)
    await doors.advisories.record_effect(key, at=now)
    what = (
        f" for the package `{package}` ({ecosystem})" if package else " (no package: edit it there)"
    )
    return f"Opened {member_name(other.key)}{what} and linked it. {outcome}"


# -- /link and /unlink ------------------------------------------------------------------


async def _group_deadline(doors: Doors, member: Member) -> str:
    record = await doors.advisories.get(*member)
    if record is None:
        return "not known yet"
    start = await group_received_at(doors.advisories, record)
    days = doors.config.policy.response_days
    return f"{datetime.datetime.fromtimestamp(start + days * 86400, datetime.UTC):%Y-%m-%d}"


async def _share(call: CommandCall[Doors], side: GroupMember, coordinator: str | None) -> str:
    """The coordinator's credit (once) and the team's working members' access on `side`."""
    doors = call.context
    assert side.handle is not None
    record = side.record
    patch: dict[str, Any] = {}
    theirs = record.coordinator if record is not None else None
    if coordinator and (theirs is None or theirs.lower() == coordinator.lower()):
        patch.update(coordinator_credit_patch(side.handle.advisory, coordinator))
    github_team = doors.config.team.github_team
    try:
        in_team = (
            await doors.team.team_members(call.client, github_team, now=doors.clock.now())
            if github_team
            else set()
        )
    except Exception:  # an unread team: name the people instead
        in_team = set()
    working = [login for login in (coordinator, call.caller) if login]
    patch.update(
        access_patch(
            side.handle.advisory,
            side.repository,
            github_team=github_team,
            working_members=working,
            team_logins=in_team,
        )
    )
    said = ""
    if patch:
        try:
            await side.handle.patch(patch)
        except Exception as error:  # said in the reply; the link stands
            return f"Could not update {member_name(side.key)}: {failure(error)}."
        await side.handle.audit("group-access", "set " + ", ".join(sorted(patch)))
        if "collaborating_users" in patch or "collaborating_teams" in patch:
            said = f"Gave the team's working members access to {member_name(side.key)}."
    if coordinator and record is not None and theirs is None:
        now = doors.clock.now()
        await doors.advisories.save(_with_coordinator(record, coordinator, now))
        said += f" @{coordinator} coordinates {member_name(side.key)} too."
    return said.strip()


def _with_coordinator(record: AdvisoryRecord, login: str, now: float) -> AdvisoryRecord:
    return replace(record, coordinator=login, coordinator_since=now)


async def _join(
    call: CommandCall[Doors],
    other: GroupMember,
    coordinator: str | None,
    *,
    how: str,
    note: str = "",
) -> str:
    """Link this advisory with `other`: access and the coordinator's credit there, a
    comment on both naming the other, both audit logs. Each step once, however often."""
    doors = call.context
    assert other.handle is not None
    here = GroupMember(call.repository, call.ghsa_id, call.handle, call.record)
    links = LinkStore(doors.advisories.database)
    linked_at = await links.link(here.key, other.key, by=call.caller, at=doors.clock.now())
    said = [
        await _share(call, other, coordinator),
        await _share(call, here, coordinator),
    ]
    planned = await doors.advisories.planned_disclosure(*here.key)
    if planned is not None:  # the group's date (the earliest) now holds for every member
        group = await doors.advisories.linked_group(*here.key)
        await links.set_planned_disclosure(group, planned, by=call.caller, at=doors.clock.now())
    deadline = await _group_deadline(doors, here.key)
    stamp = f"{linked_at:.3f}"
    for side, them in ((here, other), (other, here)):
        assert side.handle is not None
        extra = f"\n\nNote from @{call.caller}: {note}" if note and side is other else ""
        body = (
            f"Linked with {member_name(them.key)} by @{call.caller} ({how}): the same "
            "vulnerability in another repository. Linked advisories share the earliest "
            f"90-day deadline (now {deadline}) and one planned disclosure date (`/embargo`), "
            "and are published together (`/publish` checks every one). `/status` lists them; "
            f"`/unlink {them.ghsa_id}` undoes this.{extra}"
        )
        if await post_once(
            side.handle.client,
            doors.advisories,
            repository=side.repository,
            ghsa_id=side.ghsa_id,
            name=f"linked:{them.repository}:{them.ghsa_id}:{stamp}",
            body=body,
            now=doors.clock.now(),
        ):
            await side.handle.audit(
                "linked", f"@{call.caller} {how}: linked with {member_name(them.key)}"
            )
    if coordinator is None:
        said.append("No coordinator yet: whoever coordinates should `/coordinate` on each.")
    return " ".join(s for s in said if s)


def _ghsa(word: str) -> str | None:
    """A GHSA id as GitHub writes it (`GHSA-` then lower case), or None."""
    if word[:5].upper() != "GHSA-":
        return None
    ghsa_id = "GHSA-" + word[5:].lower()
    return ghsa_id if GHSA_ID.fullmatch(ghsa_id) else None


def _ghsa_arguments(words: list[str], usage: str) -> tuple[str | None, str]:
    """`[OWNER/REPO] GHSA-...` → (repository or None, GHSA id)."""
    repository = words[0] if len(words) == 2 and REPOSITORY.fullmatch(words[0]) else None
    ghsa_id = _ghsa(words[-1]) if len(words) in (1, 2) else None
    if ghsa_id is None or (len(words) == 2 and repository is None):
        raise CommandError(f"give a GHSA id: `{usage}`", show_usage=False)
    return repository, ghsa_id


@COMMANDS.command(
    "link",
    usage="/link [OWNER/REPO] GHSA-xxxx-xxxx-xxxx",
    roles=TEAM,
    description="Links this advisory with another in any repository the App is installed on "
    "(the same vulnerability elsewhere): one comment on both naming the other, the team's "
    "working members given access there, a shared deadline, disclosure date and publication.",
    examples=("/link GHSA-2345-6789-cfgh",),
)
async def link(call: CommandCall[Doors]) -> str:
    repository, ghsa_id = _ghsa_arguments(call.arguments, "/link [OWNER/REPO] GHSA-...")
    doors = call.context
    if ghsa_id == call.ghsa_id and repository in (None, call.repository):
        raise CommandError("an advisory cannot be linked with itself")
    reader = _reader(call)
    if repository is not None and await reader.installation_of(repository) is None:
        raise CommandError(not_installed(repository))
    other = await reader.find(ghsa_id, repository)
    if other is None or other.handle is None:
        raise CommandError(
            f"{ghsa_id} was not found in any repository the App is installed on. If it is "
            "in another repository, ask that project's maintainers to install the App on it "
            "(or to add the team's members to the advisory by hand), then `/link` again"
        )
    here: Member = (call.repository, call.ghsa_id)
    links = LinkStore(doors.advisories.database)
    mine = await doors.advisories.linked_group(*here)
    theirs = await doors.advisories.linked_group(*other.key)
    already = await links.is_linked(here, other.key)
    if other.key in mine and not already:
        return (
            f"{member_name(other.key)} is already in this advisory's linked group; nothing changed."
        )
    if len(set(mine) | set(theirs)) > MAX_GROUP:
        raise CommandError(f"a linked group holds at most {MAX_GROUP} advisories")
    if other.record is None:
        installation = await reader.installation_of(other.repository)
        assert installation is not None
        now = doors.clock.now()
        await doors.advisories.save(
            AdvisoryRecord(
                other.repository,
                other.ghsa_id,
                installation,
                other.state,
                None,
                None,
                now,
                None,
                now,
                None,
                None,
            )
        )
        other.record = await doors.advisories.get(*other.key)
    members = await reader.members(call.handle, call.record)
    coordinator = group_coordinator([*members, other])
    outcome = await _join(call, other, coordinator, how="/link")  # also ends a crashed one
    if already:
        return f"Already linked with {member_name(other.key)}; nothing changed."
    return f"Linked with {member_name(other.key)}. {outcome}".strip()


@COMMANDS.command(
    "unlink",
    usage="/unlink GHSA-xxxx-xxxx-xxxx",
    roles=TEAM,
    description="Undoes a /link or /affects link with that advisory (a comment on both).",
)
async def unlink(call: CommandCall[Doors]) -> str:
    _, ghsa_id = _ghsa_arguments(call.arguments, "/unlink GHSA-...")
    doors = call.context
    here: Member = (call.repository, call.ghsa_id)
    links = LinkStore(doors.advisories.database)
    linked = [m for m in await links.direct(here) if m[0][1] == ghsa_id]
    if not linked:
        return f"This advisory is not linked with {ghsa_id} directly; nothing changed."
    other_key, linked_at = linked[0]
    reader = _reader(call)
    other = await reader.read(*other_key)
    stamp = f"{linked_at:.3f}"
    for side, them in ((call.handle, other_key), (other.handle, here)):
        if side is None:
            continue
        posted = await post_once(
            side.client,
            doors.advisories,
            repository=side.repository,
            ghsa_id=side.ghsa_id,
            name=f"unlinked:{them[0]}:{them[1]}:{stamp}",
            body=f"Unlinked from {member_name(them)} by @{call.caller}: the two no longer "
            "share a deadline, a disclosure date or publication.",
            now=doors.clock.now(),
        )
        if posted:
            await side.audit("unlinked", f"@{call.caller} /unlink: from {member_name(them)}")
    await links.unlink(here, other_key)
    unread = (
        f" ({member_name(other_key)} could not be told: {other.problem})"
        if other.handle is None
        else ""
    )
    return f"Unlinked from {member_name(other_key)}.{unread}"
