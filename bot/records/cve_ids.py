"""CVE IDs for advisories: request, reserve, record, reject, through the configured provider.

`cve.provider` in bot.toml chooses who assigns them:

- `github`: GitHub is the CNA. The bot asks with `POST .../{ghsa_id}/cve`;
  GitHub assigns the ID later and the poller sees it arrive. GitHub does this
  only for public repositories, and only for admins or security managers.
- `cve-services`: the team is its own CNA (as the PSF is). The bot reserves an
  ID through CVE Services and sets it as the advisory's `cve_id` at once.

An ID is bound to the advisory the bot got it for (bot/records/bindings.py,
`cve_reservations`): reserved for it, assigned by GitHub after the bot asked,
or recorded by a team member with `/cve CVE-YYYY-NNNN`. Every collaborator,
the reporter too, may type anything into the advisory's CVE field, so `/cve
reject`, the publication checklist and the records act only on a bound ID
(unless `unsafe.collaborators_choose_the_cve_id`).

Each step is idempotent: an advisory that has a bound ID, or a request or
reservation on record, gets no second one. Asking (CVE Services or GitHub) is
held per advisory in the store (`CveBindings.start_request`), so runs for one
advisory at once (two replicas, a retry beside a slow run) ask once: the
second waits for the first and then finds its ID or request.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from enum import Enum

from gidgethub import BadRequest

from bot.advisories.groups import related_entry
from bot.advisories.handle import AdvisoryHandle
from bot.advisories.public import PublishedAdvisory
from bot.advisories.store import AdvisoryStore
from bot.core.config import BotConfig
from bot.core.errors import Refused
from bot.records.bindings import CveBindings
from bot.records.cve_services import CveServicesClient, CveServicesError

CVE_ID = re.compile(r"CVE-[0-9]{4}-[0-9]{4,19}", re.IGNORECASE)
# How long a run waits for another run's request for the same advisory, and how
# often it looks (seconds, real time).
REQUEST_WAIT_SECONDS = 30.0
REQUEST_POLL_SECONDS = 0.1


@dataclass(frozen=True)
class CveDesk:
    """What the CVE steps work with: the policy, the bindings, CVE Services (if any)."""

    policy: CvePolicy
    bindings: CveBindings
    services: CveServicesClient | None


@dataclass(frozen=True)
class CvePolicy:
    """What bot.toml says about CVE IDs, as these steps need it."""

    provider: str  # none, github or cve-services
    reserve_on_accept: bool
    trust_the_field: bool  # unsafe.collaborators_choose_the_cve_id

    @classmethod
    def of(cls, config: BotConfig) -> CvePolicy:
        return cls(
            config.cve.provider,
            config.cve.reserve_on_accept,
            config.unsafe.collaborators_choose_the_cve_id,
        )


class Binding(Enum):
    """How the advisory's CVE field relates to what the bot bound to it."""

    NONE = "none"  # the field is empty
    OURS = "ours"  # bound to this advisory (and not rejected)
    ELSEWHERE = "elsewhere"  # bound to another advisory
    UNKNOWN = "unknown"  # the bot never bound it


async def binding_of(
    bindings: CveBindings,
    repository: str,
    ghsa_id: str,
    cve_id: object,
    *,
    trust_the_field: bool = False,
) -> Binding:
    if not cve_id:
        return Binding.NONE
    if trust_the_field:
        return Binding.OURS
    bound = await bindings.reservation_of(str(cve_id))
    if bound is None:
        return Binding.UNKNOWN
    return Binding.OURS if bound.binds(repository, ghsa_id) else Binding.ELSEWHERE


async def related_entries(
    bindings: CveBindings,
    members: Sequence[PublishedAdvisory],
    *,
    trust_the_field: bool = False,
) -> list[tuple[list[str], str]]:
    """How records name the published advisories `members` (OSV `related`, CVE
    `references`): a CVE ID only when it is bound to its advisory, as in its own records."""
    entries = []
    for member in members:
        binding = await binding_of(
            bindings,
            member.repository,
            member.ghsa_id,
            member.record.get("cve_id"),
            trust_the_field=trust_the_field,
        )
        entries.append(related_entry(member, cve_bound=binding is Binding.OURS))
    return entries


async def handle_binding(handle: AdvisoryHandle, desk: CveDesk) -> Binding:
    """The binding of the advisory's CVE field (binding GitHub's answer first)."""
    if desk.policy.provider == "github":
        await bind_github_assignment(
            handle.store,
            desk.bindings,
            handle.repository,
            handle.ghsa_id,
            handle.advisory.get("cve_id"),
            now=handle.clock.now(),
        )
    return await binding_of(
        desk.bindings,
        handle.repository,
        handle.ghsa_id,
        handle.advisory.get("cve_id"),
        trust_the_field=desk.policy.trust_the_field,
    )


async def bind_github_assignment(
    effects: AdvisoryStore,
    bindings: CveBindings,
    repository: str,
    ghsa_id: str,
    cve_id: object,
    *,
    now: float,
) -> bool:
    """With the `github` provider: an ID that shows up after the bot asked GitHub for one is
    GitHub's answer, and is bound to the advisory (never one bound to another advisory).

    True when it was bound now. GitHub does not say who set the field, so an ID typed
    between the request and GitHub's answer would be taken too (SECURITY.md).
    """
    if not cve_id or not CVE_ID.fullmatch(str(cve_id)):
        return False
    if not await effects.effect_done(requested_from_github(repository, ghsa_id)):
        return False
    if await bindings.has_binding(repository, ghsa_id, provider="github"):
        return False  # one request, one answer: a later ID (after /cve reject) is not GitHub's
    return await bindings.add_reservation(
        str(cve_id).upper(), repository, ghsa_id, "github", at=now, state="assigned"
    )


def unbound_note(cve_id: object) -> str:
    """What to say, where the reporter reads it, about a CVE field the bot did not fill.

    The same words whether the ID is another advisory's or unknown: a reporter who
    types a guess must not learn that another embargoed report holds it (the audit
    log says which it was).
    """
    return (
        f"the advisory shows {cve_id}, which the bot did not get for it (anyone who "
        "collaborates here can edit the CVE field). `/cve reject` takes it off; if the team "
        f"got it elsewhere, `/cve {cve_id}` records it"
    )


def requested_from_github(repository: str, ghsa_id: str) -> str:
    """The effect key of the bot's CVE request to GitHub for an advisory."""
    return f"cve-request:{repository}:{ghsa_id}"


async def assign_cve(handle: AdvisoryHandle, desk: CveDesk) -> str:
    """Give the advisory a CVE ID (or ask GitHub for one); the reply says what happened."""
    existing = handle.advisory.get("cve_id")
    binding = await handle_binding(handle, desk)
    if binding is Binding.OURS:
        return f"The advisory already has {existing}; nothing was reserved."
    if binding is not Binding.NONE:
        await _audit_binding(handle, existing, binding)
        raise Refused(unbound_note(existing))
    provider = desk.policy.provider
    if provider == "github":
        return await _request_from_github(handle, desk)
    if provider == "cve-services":
        return await _reserve_from_cve_services(handle, desk)
    raise Refused(
        'no CVE provider is configured: set cve.provider in bot.toml to "github" or '
        '"cve-services", or record an ID the team got elsewhere with `/cve CVE-YYYY-NNNN`'
    )


async def record_cve(handle: AdvisoryHandle, desk: CveDesk, cve_id: str, *, by: str) -> str:
    """`/cve CVE-ID`: bind an ID the team got elsewhere and set it on the advisory."""
    cve_id = cve_id.upper()
    existing = handle.advisory.get("cve_id")
    binding = await handle_binding(handle, desk)
    if binding is Binding.OURS and str(existing).upper() == cve_id:
        return f"{cve_id} is already recorded for this advisory; nothing changed."
    if binding is Binding.OURS:
        raise Refused(f"the advisory already has {existing}: `/cve reject` it first")
    bound = await desk.bindings.reservation_of(cve_id)
    if bound is not None and not bound.binds(handle.repository, handle.ghsa_id):
        await _audit_binding(handle, cve_id, Binding.ELSEWHERE)
        raise Refused(f"{cve_id} cannot be recorded for this advisory (see the audit log)")
    now = handle.clock.now()
    if bound is None:
        await desk.bindings.add_reservation(
            cve_id, handle.repository, handle.ghsa_id, "manual", at=now, state="assigned"
        )
    if str(existing or "").upper() != cve_id:
        await handle.patch({"cve_id": cve_id})
    await handle.audit("cve-recorded", f"@{by} recorded {cve_id}")
    return f"Recorded {cve_id} for this advisory and set it. Don't cite it before publication."


async def _audit_binding(handle: AdvisoryHandle, cve_id: object, binding: Binding) -> None:
    """Keep for the team what the reply leaves out: whose ID the field holds."""
    whose = "bound to another advisory" if binding is Binding.ELSEWHERE else "not bound to any"
    await handle.audit("cve-field-unbound", f"the CVE field holds {cve_id}, {whose}")


@contextlib.asynccontextmanager
async def _one_request(handle: AdvisoryHandle, desk: CveDesk) -> AsyncIterator[None]:
    """Hold the advisory's CVE request while asking for an ID.

    Another run for the same advisory waits (up to REQUEST_WAIT_SECONDS), then
    finds what this one got; the hold is let go however the request ends.
    """
    bindings = desk.bindings
    waited_until = time.monotonic() + REQUEST_WAIT_SECONDS
    while not await bindings.start_request(
        handle.repository, handle.ghsa_id, now=handle.clock.now()
    ):
        if time.monotonic() >= waited_until:
            raise Refused(
                "a CVE ID is being requested for this advisory already; if none appears "
                "within a few minutes, use `/cve` again"
            )
        await asyncio.sleep(REQUEST_POLL_SECONDS)
    try:
        yield
    finally:
        await bindings.end_request(handle.repository, handle.ghsa_id)


def _already_requested() -> str:
    return (
        "A CVE ID was already requested from GitHub; it appears on the advisory "
        "when GitHub assigns it."
    )


async def _request_from_github(handle: AdvisoryHandle, desk: CveDesk) -> str:
    advisories = handle.store
    request = requested_from_github(handle.repository, handle.ghsa_id)
    if await advisories.effect_done(request):
        return _already_requested()
    async with _one_request(handle, desk):
        if await advisories.effect_done(request):  # another run asked meanwhile
            return _already_requested()
        try:
            await handle.client.post(f"{handle.path}/cve", data=b"")
        except BadRequest as error:
            if error.status_code == 403:
                raise Refused(
                    f"GitHub refused the CVE request (403): requesting a CVE needs admin or "
                    f"security-manager rights on {handle.repository}, which the App's "
                    "installation does not have. An admin can use 'Request CVE' on the "
                    "advisory page"
                ) from None
            raise Refused(
                f"GitHub refused the CVE request ({error.status_code}): {error}. GitHub "
                "assigns CVE IDs only for advisories of public repositories"
            ) from None
        await advisories.record_effect(request, at=handle.clock.now())
    await handle.audit("cve-requested", "requested a CVE ID from GitHub")
    return (
        "Requested a CVE ID from GitHub (GitHub is the CNA). It appears on the advisory once "
        "GitHub assigns it. Don't cite it before publication."
    )


def _cve_services(services: CveServicesClient | None) -> CveServicesClient:
    client = services
    if client is None:
        raise Refused(
            "cve.provider is cve-services, but CVE_SERVICES_ORG, CVE_SERVICES_USER and "
            "CVE_SERVICES_API_KEY are not set in the bot's environment"
        )
    return client


async def _reserve_from_cve_services(handle: AdvisoryHandle, desk: CveDesk) -> str:
    client = _cve_services(desk.services)
    async with _one_request(handle, desk):
        cve_id = await desk.bindings.active_reservation(handle.repository, handle.ghsa_id)
        if cve_id is None:
            year = time.gmtime(handle.clock.now()).tm_year
            try:
                cve_id = await client.reserve(year)
            except CveServicesError as error:
                raise Refused(f"could not reserve a CVE ID: {error}") from None
            # A crash between CVE Services' answer and this line leaves one reserved ID
            # unused (it shows in the CNA's list); every later step is idempotent.
            await desk.bindings.add_reservation(
                cve_id, handle.repository, handle.ghsa_id, "cve-services", at=handle.clock.now()
            )
            await handle.audit(
                "cve-reserved",
                f"reserved {cve_id} through CVE Services ({client.credentials.org})",
            )
    await handle.patch({"cve_id": cve_id})
    return (
        f"Reserved {cve_id} through CVE Services ({client.credentials.org}) and set it on "
        "the advisory. Don't cite it before publication."
    )


async def reject_cve(handle: AdvisoryHandle, desk: CveDesk) -> str:
    """Take the CVE ID off the advisory; reject the reservation only when it is this one's."""
    cve_id = handle.advisory.get("cve_id")
    if not cve_id:
        raise Refused("the advisory has no CVE ID to reject")
    if handle.advisory.get("state") == "published":
        raise Refused(f"the advisory is published; {cve_id} is public and cannot be rejected here")
    binding = await handle_binding(handle, desk)
    bound = await desk.bindings.reservation_of(str(cve_id))
    now = handle.clock.now()
    note = ""
    if binding is Binding.OURS and bound is not None and bound.state == "reserved":
        client = _cve_services(desk.services)
        try:
            await client.reject_reserved(str(cve_id))
        except CveServicesError as error:
            raise Refused(
                f"CVE Services did not reject {cve_id}: {error}. The advisory is unchanged"
            ) from None
        await desk.bindings.set_reservation_state(str(cve_id), "rejected", at=now)
        note = " and rejected the reservation with CVE Services"
    elif binding is Binding.OURS and bound is not None:
        await desk.bindings.set_reservation_state(str(cve_id), "rejected", at=now)
        note = (
            ". It was assigned outside the bot's reservations, so it was not rejected with "
            "its CNA: ask whoever assigned it (for GitHub, GitHub Support)"
        )
    else:
        await _audit_binding(handle, cve_id, binding)
        note = ". The bot did not get it for this advisory, so nothing was rejected with any CNA"
    await handle.patch({"cve_id": None})
    await handle.audit("cve-rejected", f"removed {cve_id}{note}")
    return f"Removed {cve_id} from the advisory{note}."


async def reserve_on_accept(handle: AdvisoryHandle, desk: CveDesk) -> str | None:
    """When policy says so, the CVE step of accepting a report; None when there is none.

    Used by `/accept` and when GitHub reports the report accepted (its own button).
    """
    if not desk.policy.reserve_on_accept or desk.policy.provider == "none":
        return None
    try:
        return await assign_cve(handle, desk)
    except Refused as error:
        return f"No CVE ID yet: {error}. Use `/cve` to try again."
