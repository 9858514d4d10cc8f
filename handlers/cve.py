"""CVE IDs: the /cve command, and a CVE ID on acceptance when policy asks for one.

`/cve` asks the configured provider for an ID (see bot/records/cve_ids.py); `/cve
CVE-YYYY-NNNN` records one the team got elsewhere; `/cve reject` takes it off
the advisory and rejects the reservation when it is this advisory's own. An ID
GitHub assigns after the bot's request is bound to the advisory when the
poller sees it arrive. With
`cve.reserve_on_accept`, accepting a report reserves one too: through
`/accept`, and when a coordinator accepts in GitHub's web page, which the
poller sees as a state change from triage to draft (`reserve_on_accept` in
bot/records/cve_ids.py serves both).
"""

from __future__ import annotations

from typing import Protocol

from gidgethub import routing, sansio

from bot.advisories.comments import post_once
from bot.advisories.groups import GroupReader, failure, member_name
from bot.commands.registry import TEAM, CommandError, Registry
from bot.context import (
    CommandCall,
    CveDoors,
    HasAdvisoryHandles,
    HasApp,
    HasInstallations,
    cve_desk,
)
from bot.core.errors import Refused
from bot.records.cve_ids import (
    CVE_ID,
    assign_cve,
    bind_github_assignment,
    record_cve,
    reject_cve,
    reserve_on_accept,
)

router = routing.Router()
COMMANDS = Registry()


class Doors(HasAdvisoryHandles, CveDoors, HasApp, HasInstallations, Protocol):
    """What the CVE handlers and /cve use."""


@COMMANDS.command(
    "cve",
    usage="/cve [reject|CVE-YYYY-NNNN]",
    roles=TEAM,
    description="Gets the advisory a CVE ID from the configured provider (GitHub, or the "
    "team's own CNA through CVE Services); `/cve CVE-YYYY-NNNN` records one the team got "
    "elsewhere; `/cve reject` removes it and rejects the reservation. On a linked advisory, "
    "`/cve` gets one for each advisory of the group that lacks one.",
    examples=("/cve", "/cve reject", "/cve CVE-2026-12345"),
)
async def cve(call: CommandCall[Doors]) -> str:
    desk = cve_desk(call.context)
    if not call.arguments:
        if len(await call.context.advisories.linked_group(call.repository, call.ghsa_id)) > 1:
            return await _cve_for_group(call)
        return await assign_cve(call.handle, desk)
    # In any case, as CVE IDs are read: `/cve REJECT` is not an unknown argument.
    if len(call.arguments) == 1 and call.arguments[0].lower() == "reject":
        return await reject_cve(call.handle, desk)
    if len(call.arguments) == 1 and CVE_ID.fullmatch(call.arguments[0]):
        return await record_cve(call.handle, desk, call.arguments[0], by=call.caller)
    raise CommandError(f"unknown argument {call.arguments[0][:60]!r}", show_usage=True)


async def _cve_for_group(call: CommandCall[Doors]) -> str:
    """`/cve` on a linked advisory: one CVE ID per advisory of the group, for each that
    lacks one (bot/advisories/groups.py reads them through their installations)."""
    doors = call.context
    desk = cve_desk(doors)
    reader = GroupReader(
        doors.app,
        doors.installations,
        doors.advisories,
        doors.clock,
        delivery=call.handle.delivery,
    )
    lines = []
    for member in await reader.members(call.handle, call.record):
        if member.handle is None:
            outcome = f"not done: cannot be read ({member.problem})"
        else:
            try:
                outcome = await assign_cve(member.handle, desk)
            except Refused as error:
                outcome = f"not done: {error}"
            except Exception as error:  # one member failing does not stop the others
                outcome = f"failed: {failure(error)}"
        lines.append(f"- {member_name(member.key)}: {outcome}")
    return "One CVE ID per advisory of the linked group:\n" + "\n".join(lines)


@router.register("advisory", action="updated")
async def accepted_on_github(event: sansio.Event, context: Doors) -> None:
    """Fires on a change the poller saw; acts when the state became `draft` (accepted)."""
    if "state" not in (event.data.get("changes") or []):
        return
    if event.data["repository_advisory"].get("state") != "draft":
        return
    if not context.config.cve.reserve_on_accept:
        return
    found = await context.fetch_advisory(event)
    if found.advisory["state"] != "draft" or found.advisory.get("cve_id"):
        return
    outcome = await reserve_on_accept(found, cve_desk(context))
    if outcome:
        await post_once(
            found.client,
            context.advisories,
            repository=found.repository,
            ghsa_id=found.ghsa_id,
            name="cve-on-accept",
            body=f"Accepted, so by policy: {outcome}",
            now=context.clock.now(),
        )


@router.register("advisory", action="updated")
async def cve_assigned_by_github(event: sansio.Event, context: Doors) -> None:
    """Fires on a change the poller saw; binds a CVE ID that appears after the bot's request.

    Only with the `github` provider and only after the bot asked GitHub for this
    advisory; an ID already bound to another advisory is not taken over.
    """
    if "cve_id" not in (event.data.get("changes") or []):
        return
    if context.config.cve.provider != "github":
        return
    repository = str(event.data["repository"]["full_name"])
    ghsa_id = str(event.data["repository_advisory"]["ghsa_id"])
    found = await context.fetch_advisory(event)
    cve_id = found.advisory.get("cve_id")
    if await bind_github_assignment(
        context.advisories,
        context.cve_bindings,
        repository,
        ghsa_id,
        cve_id,
        now=context.clock.now(),
    ):
        await context.audit(repository, ghsa_id, "cve-assigned", f"GitHub assigned {cve_id}")
