"""CVE IDs for advisories: request, reserve, reject, through the configured provider.

`cve.provider` in bot.toml chooses who assigns them:

- `github`: GitHub is the CNA. The bot asks with `POST .../{ghsa_id}/cve`;
  GitHub assigns the ID later and the poller sees it arrive. GitHub does this
  only for public repositories, and only for admins or security managers.
- `cve-services`: the team is its own CNA (as the PSF is). The bot reserves an
  ID through CVE Services and sets it as the advisory's `cve_id` at once.

Each step is idempotent: an advisory that has an ID, or a request or
reservation on record, gets no second one.
"""

from __future__ import annotations

import time

from gidgethub import BadRequest

from bot.commands.call import CommandCall
from bot.commands.registry import CommandError
from bot.cve_services import CveServicesClient, CveServicesError


def _request_key(call: CommandCall) -> str:
    return f"cve-request:{call.repository}:{call.ghsa_id}"


async def assign_cve(call: CommandCall) -> str:
    """Give the advisory a CVE ID (or ask GitHub for one); the reply says what happened."""
    existing = call.advisory.get("cve_id")
    if existing:
        return f"The advisory already has {existing}; nothing was reserved."
    provider = call.context.config.cve.provider
    if provider == "github":
        return await _request_from_github(call)
    if provider == "cve-services":
        return await _reserve_from_cve_services(call)
    raise CommandError(
        'no CVE provider is configured: set cve.provider in bot.toml to "github" or "cve-services"'
    )


async def _request_from_github(call: CommandCall) -> str:
    advisories = call.context.advisories
    if await advisories.effect_done(_request_key(call)):
        return (
            "A CVE ID was already requested from GitHub; it appears on the advisory "
            "when GitHub assigns it."
        )
    try:
        await call.client.post(f"{call.path}/cve", data=b"")
    except BadRequest as error:
        if error.status_code == 403:
            raise CommandError(
                f"GitHub refused the CVE request (403): requesting a CVE needs admin or "
                f"security-manager rights on {call.repository}, which the App's installation "
                "does not have. An admin can use 'Request CVE' on the advisory page"
            ) from None
        raise CommandError(
            f"GitHub refused the CVE request ({error.status_code}): {error}. GitHub assigns "
            "CVE IDs only for advisories of public repositories"
        ) from None
    await advisories.record_effect(_request_key(call), at=call.context.clock.now())
    await call.context.audit(
        call.repository, call.ghsa_id, "cve-requested", "requested a CVE ID from GitHub"
    )
    return (
        "Requested a CVE ID from GitHub (GitHub is the CNA). It appears on the advisory once "
        "GitHub assigns it. Don't cite it before publication."
    )


def _cve_services(call: CommandCall) -> CveServicesClient:
    client = call.context.cve_services
    if client is None:
        raise CommandError(
            "cve.provider is cve-services, but CVE_SERVICES_ORG, CVE_SERVICES_USER and "
            "CVE_SERVICES_API_KEY are not set in the bot's environment"
        )
    return client


async def _reserve_from_cve_services(call: CommandCall) -> str:
    client = _cve_services(call)
    advisories = call.context.advisories
    cve_id = await advisories.active_reservation(call.repository, call.ghsa_id)
    if cve_id is None:
        year = time.gmtime(call.context.clock.now()).tm_year
        try:
            cve_id = await client.reserve(year)
        except CveServicesError as error:
            raise CommandError(f"could not reserve a CVE ID: {error}") from None
        # A crash between CVE Services' answer and this line leaves one reserved ID
        # unused (it shows in the CNA's list); every later step is idempotent.
        await advisories.add_reservation(
            cve_id, call.repository, call.ghsa_id, "cve-services", at=call.context.clock.now()
        )
        await call.context.audit(
            call.repository,
            call.ghsa_id,
            "cve-reserved",
            f"reserved {cve_id} through CVE Services ({client.credentials.org})",
        )
    await call.patch({"cve_id": cve_id})
    return (
        f"Reserved {cve_id} through CVE Services ({client.credentials.org}) and set it on "
        "the advisory. Don't cite it before publication."
    )


async def reject_cve(call: CommandCall) -> str:
    """Take the CVE ID off the advisory; with CVE Services, also reject the reservation."""
    cve_id = call.advisory.get("cve_id")
    if not cve_id:
        raise CommandError("the advisory has no CVE ID to reject")
    if call.advisory.get("state") == "published":
        raise CommandError(
            f"the advisory is published; {cve_id} is public and cannot be rejected here"
        )
    advisories = call.context.advisories
    ours = await advisories.reservation_state(str(cve_id))
    note = ""
    if ours == "reserved":
        client = _cve_services(call)
        try:
            await client.reject_reserved(str(cve_id))
        except CveServicesError as error:
            raise CommandError(
                f"CVE Services did not reject {cve_id}: {error}. The advisory is unchanged"
            ) from None
        await advisories.set_reservation_state(str(cve_id), "rejected", at=call.context.clock.now())
        note = " and rejected the reservation with CVE Services"
    elif ours is None:
        note = (
            ". The bot did not reserve it, so it was not rejected with its CNA: "
            "ask whoever assigned it (for GitHub, GitHub Support)"
        )
    await call.patch({"cve_id": None})
    await call.context.audit(
        call.repository, call.ghsa_id, "cve-rejected", f"removed {cve_id}{note}"
    )
    return f"Removed {cve_id} from the advisory{note}."


async def reserve_on_accept(call: CommandCall) -> str | None:
    """When policy says so, the CVE step of accepting a report; None when there is none."""
    cve = call.context.config.cve
    if not cve.reserve_on_accept or cve.provider == "none":
        return None
    try:
        return await assign_cve(call)
    except CommandError as error:
        return f"No CVE ID yet: {error}. Use `/cve` to try again."
