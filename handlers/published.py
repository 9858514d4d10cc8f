"""When an advisory is published: record it, thank the reporter, write its public records.

Fires on the `repository_advisory.published` webhook, and on the poller seeing
an advisory's state become `published` (whichever comes first; the second
does nothing). Two handlers, each retried on its own:

- :func:`record_publication`: the record is completed, so its timers stop; the
  credits as GitHub has them then (with acceptance) and the public fields are
  kept for the credits page and the records; the reporter gets one thank-you
  comment that says whether their credit is accepted.
- :func:`publish_records`: the OSV and CVE JSON 5 records are built and
  validated, written into `records.folder`, and with the `cve-services`
  provider the CVE record's CNA container is published (`cve.publish_record`)
  or attached to the advisory for review. A record that fails its schema is
  not written; a comment on the advisory names the field.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, Protocol

from gidgethub import routing, sansio

from bot.advisories.comments import post_once
from bot.advisories.groups import published_members
from bot.advisories.public import (
    PublishedAdvisory,
    credits_of,
    encode_credits,
    is_publication,
    public_view,
)
from bot.context import HasAdvisoryHandles, HasConfig, HasCveIds, HasFixLinks, HasRecordIds
from bot.github.client import GitHubClient
from bot.records.cve_ids import Binding, binding_of, related_entries
from bot.records.cve_services import CveServicesClient
from bot.records.documents import RecordError
from bot.records.exports import Exports, build_exports, write_exports

router = routing.Router()


class Doors(HasAdvisoryHandles, HasConfig, HasCveIds, HasFixLinks, HasRecordIds, Protocol):
    """What the public-records handlers use."""


THANKS = "published-thanks"


def thanks(advisory: dict[str, Any], reporter: str) -> str:
    credit = next(
        (c for c in advisory.get("credits_detailed") or [] if c["user"]["login"] == reporter),
        None,
    )
    if credit is None:
        credited = "You are not listed in the credits; tell us if you would like to be."
    elif credit.get("state") == "accepted":
        credited = f"You are credited as {credit['type'].replace('_', ' ')}."
    else:
        credited = (
            f"You are credited as {credit['type'].replace('_', ' ')}, but the credit is still "
            f"{credit.get('state', 'pending')}: accept it on the advisory page to be shown."
        )
    return (
        f"@{reporter}, this advisory is now public: {advisory['html_url']}. "
        f"Thank you for reporting it and for your patience. {credited}"
    )


async def record_publication(event: sansio.Event, context: Doors) -> None:
    found = await context.fetch_advisory(event)
    if found.advisory["state"] != "published":
        return
    client, repository, ghsa_id, advisory = found.as_tuple()
    store = context.advisories
    record = await store.get(repository, ghsa_id)
    if record is None or record.final_credits is not None:
        return  # unknown to the bot, or already recorded
    now = context.clock.now()
    record = replace(
        record,
        state="published",
        completed_at=record.completed_at or now,
        final_credits=encode_credits(credits_of(advisory)),
        last_activity_at=now,
    )
    await store.save(record)
    await store.set_fingerprint(repository, ghsa_id, advisory)
    await context.audit(
        repository, ghsa_id, "published", "published; timers stopped, final credits kept"
    )
    if record.reporter:
        posted = await post_once(
            client,
            store,
            repository=repository,
            ghsa_id=ghsa_id,
            name=THANKS,
            body=thanks(advisory, record.reporter),
            now=now,
        )
        if posted:
            await context.audit(
                repository, ghsa_id, "thanked-reporter", f"thanked @{record.reporter}"
            )


async def publish_records(event: sansio.Event, context: Doors) -> None:
    found = await context.fetch_advisory(event)
    if found.advisory["state"] != "published":
        return
    client, repository, ghsa_id, advisory = found.as_tuple()
    config = context.config
    cve_services = context.cve_services if config.cve.provider == "cve-services" else None
    org_id = await cve_services.org_id() if cve_services is not None else ""
    now = context.clock.now()
    public = public_view(advisory)
    try:
        exports, binding = await _write_records(
            context,
            client,
            repository,
            public,
            org_id=org_id,
            # linked advisories already public (never one still under embargo)
            related=await _related(
                context, await published_members(context.advisories, repository, ghsa_id)
            ),
            now=now,
        )
    except RecordError as error:
        # Audited with the comment, once per version: a repeated event adds nothing.
        if await post_once(
            client,
            context.advisories,
            repository=repository,
            ghsa_id=ghsa_id,
            name=f"records-invalid:{advisory.get('updated_at')}",
            body=f"The public records were not written: {error}. Correct the advisory, "
            f"then write them with `ghsa-bot export osv {ghsa_id} --output FOLDER` (and "
            "`cve`): a later edit does not export them again by itself.",
            now=now,
        ):
            await context.audit(repository, ghsa_id, "records-invalid", str(error))
        return
    await _cve_record(
        context, client, repository, advisory, exports, binding, cve_services, now=now
    )
    # Last: when it fails the delivery is retried, and every step above is once-only.
    await _rewrite_relatives(
        context, client, PublishedAdvisory(repository, ghsa_id, public), org_id=org_id, now=now
    )


async def _cve_record(
    context: Doors,
    client: GitHubClient,
    repository: str,
    advisory: Mapping[str, Any],
    exports: Exports,
    binding: Binding,
    cve_services: CveServicesClient | None,
    *,
    now: float,
) -> None:
    """Say why no CVE record was made; else publish it (`cve.publish_record`) or attach
    it for review, with the `cve-services` provider (`cve_services`)."""
    config = context.config
    ghsa_id = str(advisory["ghsa_id"])
    if binding in (Binding.ELSEWHERE, Binding.UNKNOWN):
        if await post_once(
            client,
            context.advisories,
            repository=repository,
            ghsa_id=ghsa_id,
            name=f"cve-record-withheld:{advisory.get('cve_id')}",
            body=f"No CVE record was written or published: {exports.cve_missing}.",
            now=now,
        ):
            await context.audit(repository, ghsa_id, "cve-record-withheld", exports.cve_missing)
        return
    if exports.cve is None or cve_services is None:
        return
    cve_id = str(exports.cve["cveMetadata"]["cveId"])
    container = exports.cve["containers"]["cna"]
    if config.cve.publish_record:
        key = f"cve-record:{cve_id}:{advisory.get('updated_at')}"
        if await context.advisories.effect_done(key):
            return
        outcome = await cve_services.publish(cve_id, container)
        await context.advisories.record_effect(key, at=now)
        await context.cve_bindings.set_reservation_state(cve_id, "published", at=now)
        await context.audit(repository, ghsa_id, "cve-record-published", f"{cve_id} {outcome}")
        body = f"Published the CVE record of {cve_id} ({outcome}): https://www.cve.org/CVERecord?id={cve_id}"
    else:
        body = (
            f"The CVE record of {cve_id} for review (policy leaves publishing it to the CNA's "
            "operators; it passed the CVE JSON 5.1.1 schema):\n\n<details><summary>"
            f"{cve_id}.json</summary>\n\n```json\n{json.dumps(container, indent=2)}\n```\n"
            "</details>"
        )
    await post_once(
        client,
        context.advisories,
        repository=repository,
        ghsa_id=ghsa_id,
        name=f"cve-record:{cve_id}",
        body=body,
        now=now,
    )


async def _write_records(
    context: Doors,
    client: GitHubClient,
    repository: str,
    public: Mapping[str, Any],
    *,
    org_id: str,
    related: Sequence[tuple[Sequence[str], str]],
    now: float,
) -> tuple[Exports, Binding]:
    """Build and validate one published advisory's records (RecordError when invalid),
    write them into `records.folder`, and audit that once per content."""
    config = context.config
    ghsa_id = str(public["ghsa_id"])
    binding = await binding_of(
        context.cve_bindings,
        repository,
        ghsa_id,
        public.get("cve_id"),
        trust_the_field=config.unsafe.collaborators_choose_the_cve_id,
    )
    exports = await build_exports(
        context.fix_links,
        context.record_ids,
        config.records,
        repository,
        public,
        org_id=org_id,
        cve_bound=binding in (Binding.OURS, Binding.NONE),
        github=client,  # the credited people's names, from their profiles
        related=related,
    )
    folder = config.records.folder
    written = write_exports(folder, exports) if folder is not None else []
    if written and await context.advisories.record_effect(
        f"records-written:{_digest(exports)}", at=now
    ):
        await context.audit(
            repository, ghsa_id, "records-written", ", ".join(path.name for path in written)
        )
    return exports, binding


async def _rewrite_relatives(
    context: Doors, client: GitHubClient, this: PublishedAdvisory, *, org_id: str, now: float
) -> None:
    """Write again the records of the linked advisories published before `this`.

    Theirs were written while `this` was still under embargo, so they did not name
    it; now each names it too (by hand or by `/publish`, whichever came first).
    Only record files change: a CVE record already published stays as it is.
    """
    if context.config.records.folder is None:
        return
    for relative in await published_members(context.advisories, this.repository, this.ghsa_id):
        group = {
            (member.repository, member.ghsa_id): member
            for member in await published_members(
                context.advisories, relative.repository, relative.ghsa_id
            )
        }
        group[(this.repository, this.ghsa_id)] = this
        related = await _related(context, [group[key] for key in sorted(group)])
        with contextlib.suppress(RecordError):  # its own publication said what is wrong
            await _write_records(
                context,
                client,
                relative.repository,
                relative.record,
                org_id=org_id,
                related=related,
                now=now,
            )


async def _related(
    context: Doors, members: Sequence[PublishedAdvisory]
) -> list[tuple[list[str], str]]:
    """How the records name the published `members` (a CVE ID only where it is bound)."""
    return await related_entries(
        context.cve_bindings,
        members,
        trust_the_field=context.config.unsafe.collaborators_choose_the_cve_id,
    )


def _digest(exports: Exports) -> str:
    """The records' content, digested: the same records written again are not news.
    (They are public: the advisory is published.)"""
    text = json.dumps([exports.osv, exports.cve], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


@router.register("repository_advisory", action="published")
@router.register("advisory", action="updated")
async def published_record(event: sansio.Event, context: Doors) -> None:
    """Fires on publication; completes the record and thanks the reporter."""
    if is_publication(event.event, event.data):
        await record_publication(event, context)


@router.register("repository_advisory", action="published")
@router.register("advisory", action="updated")
async def published_exports(event: sansio.Event, context: Doors) -> None:
    """Fires on publication; writes the OSV and CVE records, publishes or attaches the CVE."""
    if is_publication(event.event, event.data):
        await publish_records(event, context)
