"""handlers/published.py with its doors (advisory handles, config, the CVE parts, fix links,
record ids) and nothing else."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from gidgethub import sansio

from bot.core.config import BotConfig, load_config
from handlers import published
from tests.handlers.unit.doors import (
    ScriptedGitHub,
    Stores,
    UnitDoors,
    advisory_event,
    clock_at,
    event,
    open_stores,
)
from tests.handlers.unit.fakes import ScriptedCveServices, advisory_record
from tests.handlers.unit.github_answers import (
    credit,
    repository_advisory,
    script_advisory,
    script_comments,
)
from tests.harness import ROOT, SteppedClock, load_payload

REPO = "python/cpython"
GHSA = "GHSA-9wr6-x3c8-p2fq"
COMMENTS = f"/repos/{REPO}/security-advisories/{GHSA}/comments"
MERGE_SHA = "d662e2db2605515a767f88ad48096b8ac623c774"
CPYTHON = load_config(ROOT / "config")  # cve-services; records attached, not published
PUBLISHED_AT = "2026-11-24T15:00:00Z"


def config_with(folder: Path, **cve: Any) -> BotConfig:
    """CPython's configuration, its records written under `folder`."""
    return replace(
        CPYTHON,
        records=replace(CPYTHON.records, folder=folder),
        cve=replace(CPYTHON.cve, **cve),
    )


def webhook() -> sansio.Event:
    """GitHub's `repository_advisory.published` (a real delivery, pointed at our advisory)."""
    payload = load_payload("repository_advisory/published.payload.json")
    payload["repository"]["full_name"] = REPO
    payload["repository_advisory"]["ghsa_id"] = GHSA
    payload["installation"] = {"id": 7, "node_id": "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uNw=="}
    return event("repository_advisory", payload)


def poller_saw(*changes: str, state: str = "published") -> sansio.Event:
    """The poller's `advisory.updated` (bot/queue/followups.py)."""
    return advisory_event(
        "updated",
        REPO,
        GHSA,
        changes=list(changes),
        installation={"id": 7},
        repository_advisory={"ghsa_id": GHSA, "state": state},
    )


def public_advisory(**fields: Any) -> dict[str, Any]:
    """A published advisory as GET answers it: accepted credits, a CVSS v4 vector, a CWE."""
    vector = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:L/SC:N/SI:N/SA:N"
    values: dict[str, Any] = {
        "state": "published",
        "published_at": PUBLISHED_AT,
        "updated_at": PUBLISHED_AT,
        "cwe_ids": ["CWE-400"],
        "cwes": [{"cwe_id": "CWE-400", "name": "Uncontrolled Resource Consumption"}],
        "cvss_severities": {"cvss_v3": None, "cvss_v4": {"vector_string": vector, "score": 6.9}},
        "credits": [
            {"login": "hana", "type": "reporter"},
            {"login": "gpshead", "type": "coordinator"},
        ],
        "credits_detailed": [
            credit("hana", "reporter", "accepted"),
            credit("gpshead", "coordinator", "accepted"),
        ],
    }
    values.update(fields)
    return repository_advisory(REPO, GHSA, **values)


def doors(
    github: ScriptedGitHub,
    stores: Stores,
    clock: SteppedClock,
    config: BotConfig,
    cna: ScriptedCveServices | None,
) -> UnitDoors:
    return UnitDoors(
        github=github,
        advisories=stores.advisories,
        clock=clock,
        config=config,
        cve_bindings=stores.cve_bindings,
        cve_services=cna,
        fix_links=stores.fix_links,
        record_ids=stores.record_ids,
    )


async def merged_fix(stores: Stores, merge_commit: str = MERGE_SHA) -> None:
    await stores.fix_links.link_fix(REPO, GHSA, REPO, 4242)
    await stores.fix_links.record_merge(REPO, 4242, merge_commit, 1_795_000_000.0)


async def reserved(stores: Stores, cna: ScriptedCveServices, clock: SteppedClock) -> str:
    """A CVE ID the bot reserved for this advisory through CVE Services."""
    cve_id = await cna.reserve(2026)
    await stores.cve_bindings.add_reservation(cve_id, REPO, GHSA, "cve-services", at=clock.now())
    cna.calls.clear()
    return cve_id


async def test_publication_completes_the_record_and_thanks_the_reporter_once(
    tmp_path: Path,
) -> None:
    github = ScriptedGitHub()
    script_advisory(github, REPO, public_advisory())
    thread = script_comments(github, COMMENTS)
    clock = clock_at()
    config = config_with(tmp_path / "records", provider="none")
    async with open_stores(tmp_path) as stores:
        record = advisory_record(
            REPO, GHSA, received_at=clock.now() - 40 * 86400, state="draft", reporter="hana"
        )
        await stores.advisories.save(record)
        unit = doors(github, stores, clock, config, None)
        await published.published_record(webhook(), unit)

        done = await stores.advisories.get(REPO, GHSA)
        assert done is not None and done.state == "published"
        assert done.completed_at == clock.now()  # the timers stop
        assert json.loads(done.final_credits or "") == [
            {"login": "hana", "type": "reporter", "state": "accepted"},
            {"login": "gpshead", "type": "coordinator", "state": "accepted"},
        ]
        public = await stores.advisories.published_one(REPO, GHSA)
        assert public is not None and public.record["published_at"] == PUBLISHED_AT
        [thanks] = [c["body"] for c in thread]
        assert thanks.startswith("<!-- ghsa-bot:published-thanks -->")
        assert f"@hana, this advisory is now public: https://github.com/{REPO}/security/" in thanks
        assert thanks.rstrip().endswith("You are credited as reporter.")
        log = await stores.advisories.audit_log(REPO, GHSA)
        assert [(e.action, e.reason) for e in log] == [
            ("published", "published; timers stopped, final credits kept"),
            ("thanked-reporter", "thanked @hana"),
        ]

        # The poller sees the state change too: nothing happens twice.
        clock.advance(60)
        await published.published_record(poller_saw("state", "published_at"), unit)
        assert len(thread) == 1 and len(await stores.advisories.audit_log(REPO, GHSA)) == 2
        again = await stores.advisories.get(REPO, GHSA)
        assert again is not None and again.completed_at == done.completed_at


async def test_a_credit_still_pending_is_named_in_the_thanks(tmp_path: Path) -> None:
    github = ScriptedGitHub()
    pending = [credit("ivy", "finder", "pending")]
    script_advisory(github, REPO, public_advisory(credits_detailed=pending))
    thread = script_comments(github, COMMENTS)
    clock = clock_at()
    async with open_stores(tmp_path) as stores:
        await stores.advisories.save(
            advisory_record(REPO, GHSA, received_at=clock.now(), state="draft", reporter="ivy")
        )
        config = config_with(tmp_path / "records", provider="none")
        await published.published_record(webhook(), doors(github, stores, clock, config, None))
        [thanks] = [c["body"] for c in thread]
        assert "You are credited as finder, but the credit is still pending: accept it on" in (
            thanks
        )


async def test_what_is_not_a_publication_or_not_the_bots_changes_nothing(tmp_path: Path) -> None:
    github = ScriptedGitHub()
    script_advisory(github, REPO, public_advisory())
    thread = script_comments(github, COMMENTS)
    clock = clock_at()
    config = config_with(tmp_path / "records", provider="none")
    async with open_stores(tmp_path) as stores:
        unit = doors(github, stores, clock, config, None)
        # A title change the poller saw is no publication: GitHub is not even asked.
        await published.published_record(poller_saw("summary"), unit)
        await published.published_exports(poller_saw("summary"), unit)
        assert github.requests == []
        # Published, but never seen by the bot (no record): nothing is recorded or said.
        await published.published_record(webhook(), unit)
        assert await stores.advisories.get(REPO, GHSA) is None and thread == []
        assert await stores.advisories.audit_log(REPO, GHSA) == []


async def test_records_are_written_and_the_cve_record_attached_for_review(
    tmp_path: Path,
) -> None:
    github = ScriptedGitHub()
    cna = ScriptedCveServices()
    clock = clock_at()
    folder = tmp_path / "records"
    async with open_stores(tmp_path) as stores:
        cve_id = await reserved(stores, cna, clock)
        await merged_fix(stores)
        script_advisory(github, REPO, public_advisory(cve_id=cve_id))
        thread = script_comments(github, COMMENTS)
        unit = doors(github, stores, clock, config_with(folder), cna)
        await published.published_exports(webhook(), unit)

        # psf/advisory-database's layout: a placeholder its own automation numbers.
        placeholder = f"PSF-0000-{cve_id}"
        osv = json.loads((folder / "advisories" / "python" / f"{placeholder}.json").read_text())
        assert osv["id"] == placeholder and osv["aliases"] == [cve_id, GHSA]
        assert {"fixed": MERGE_SHA} in osv["affected"][0]["ranges"][0]["events"]
        cve = json.loads((folder / "cve" / f"{cve_id}.json").read_text())
        assert cve["cveMetadata"] == {
            "cveId": cve_id,
            "assignerOrgId": cna.org_uuid,
            "state": "PUBLISHED",
        }
        assert cna.calls == [("org_id", "PSF")] and cna.ids[cve_id] == "RESERVED"  # policy
        [review] = [c["body"] for c in thread]
        assert f"The CVE record of {cve_id} for review" in review
        assert '"descriptions"' in review and '"cveId"' not in review  # the CNA container only
        log = await stores.advisories.audit_log(REPO, GHSA)
        assert [(e.action, e.reason) for e in log] == [
            ("records-written", f"{placeholder}.json, {cve_id}.json")
        ]

        # The poller sees the publication too: the same id, no second comment.
        await published.published_exports(poller_saw("state"), unit)
        assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.json")) == [
            f"advisories/python/{placeholder}.json",
            f"cve/{cve_id}.json",
        ]
        assert len(thread) == 1
        assert len(await stores.advisories.audit_log(REPO, GHSA)) == 1  # the same records


async def test_with_publish_record_the_cve_record_is_published_once(tmp_path: Path) -> None:
    github = ScriptedGitHub()
    cna = ScriptedCveServices()
    clock = clock_at()
    config = config_with(tmp_path / "records", publish_record=True)
    async with open_stores(tmp_path) as stores:
        cve_id = await reserved(stores, cna, clock)
        await merged_fix(stores)
        script_advisory(github, REPO, public_advisory(cve_id=cve_id))
        thread = script_comments(github, COMMENTS)
        unit = doors(github, stores, clock, config, cna)
        await published.published_exports(webhook(), unit)
        await published.published_exports(poller_saw("state"), unit)

        assert cna.ids[cve_id] == "PUBLISHED"
        assert [call for call in cna.calls if call[0] == "publish"] == [("publish", cve_id)]
        assert cna.records[cve_id]["providerMetadata"] == {"orgId": cna.org_uuid}
        assert {"lang": "en", "value": "hana", "type": "reporter"} in cna.records[cve_id]["credits"]
        bound = await stores.cve_bindings.reservation_of(cve_id)
        assert bound is not None and bound.state == "published"
        [note] = [c["body"] for c in thread]
        assert f"Published the CVE record of {cve_id} (created)" in note
        assert f"https://www.cve.org/CVERecord?id={cve_id}" in note
        published_log = [
            e.reason
            for e in await stores.advisories.audit_log(REPO, GHSA)
            if e.action == "cve-record-published"
        ]
        assert published_log == [f"{cve_id} created"]


async def test_a_cve_id_the_bot_did_not_get_is_kept_out_of_the_records(tmp_path: Path) -> None:
    github = ScriptedGitHub()
    cna = ScriptedCveServices()
    clock = clock_at()
    folder = tmp_path / "records"
    typed = "CVE-2026-31337"  # typed into the CVE field by a collaborator
    async with open_stores(tmp_path) as stores:
        await merged_fix(stores)
        script_advisory(github, REPO, public_advisory(cve_id=typed))
        thread = script_comments(github, COMMENTS)
        unit = doors(github, stores, clock, config_with(folder, publish_record=True), cna)
        await published.published_exports(webhook(), unit)

        osv = json.loads((folder / "advisories" / "python" / f"PSF-0000-{GHSA}.json").read_text())
        assert osv["aliases"] == [GHSA]  # not the unbound ID, nor a placeholder naming it
        assert not (folder / "cve").exists()
        assert not any(call[0] == "publish" for call in cna.calls)
        [withheld] = [c["body"] for c in thread]
        assert withheld.startswith(f"<!-- ghsa-bot:cve-record-withheld:{typed} -->")
        assert f"No CVE record was written or published: {typed} is on the advisory but" in (
            withheld
        )
        actions = [e.action for e in await stores.advisories.audit_log(REPO, GHSA)]
        assert actions == ["records-written", "cve-record-withheld"]
        # The poller sees the publication too: the same records, nothing audited again.
        await published.published_exports(poller_saw("state"), unit)
        assert len(thread) == 1 and len(await stores.advisories.audit_log(REPO, GHSA)) == 2


async def test_a_record_that_fails_its_schema_is_not_written_and_the_field_is_named(
    tmp_path: Path,
) -> None:
    github = ScriptedGitHub()
    cna = ScriptedCveServices()
    clock = clock_at()
    folder = tmp_path / "records"
    async with open_stores(tmp_path) as stores:
        cve_id = await reserved(stores, cna, clock)
        await merged_fix(stores, merge_commit="abc123def456")  # OSV wants full-length hashes
        script_advisory(github, REPO, public_advisory(cve_id=cve_id))
        thread = script_comments(github, COMMENTS)
        unit = doors(github, stores, clock, config_with(folder, publish_record=True), cna)
        await published.published_exports(webhook(), unit)
        assert not folder.exists()
        assert cna.ids[cve_id] == "RESERVED"  # nothing was sent to the CNA
        [refusal] = [c["body"] for c in thread]
        assert "The public records were not written: OSV record is invalid at " in refusal
        assert "affected[0].ranges[0]" in refusal
        assert f"`ghsa-bot export osv {GHSA} --output FOLDER`" in refusal
        [(action, reason)] = [
            (e.action, e.reason) for e in await stores.advisories.audit_log(REPO, GHSA)
        ]
        assert action == "records-invalid" and "affected[0].ranges[0]" in reason
        await published.published_exports(poller_saw("state"), unit)  # no second comment
        assert len(thread) == 1
        assert len(await stores.advisories.audit_log(REPO, GHSA)) == 1  # nor audit entry
