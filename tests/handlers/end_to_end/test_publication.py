"""CVE IDs from both providers, /publish, /announce, the records and the credits page.

Driven end to end: commands are advisory comments the poller reads from the
fake GitHub, CVE Services is the fake in tests/fakecve.py, and the credits page
is read in headless Chromium.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import jsonschema
import pytest

from tests.browser import chromium, require_browser
from tests.conftest import StartBot
from tests.fakecve import FakeCveServices
from tests.fakegithub import FakeGitHub
from tests.harness import World, file_report, run_cli, world_with
from tests.scenarios import commented, configure, last_reply, merged_payload

MERGE_SHA = "d662e2db2605515a767f88ad48096b8ac623c774"
CVSS4 = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:L/SC:N/SI:N/SA:N"


# -- GitHub as CNA -----------------------------------------------------------------------


async def test_github_provider_requests_once_and_explains_refusals(
    start_bot: StartBot, fake_github: tuple[FakeGitHub, str], bot_env: dict[str, str]
) -> None:
    configure(bot_env, lambda t: t.replace('provider = "cve-services"', 'provider = "github"'))
    world = await world_with(start_bot, fake_github)
    fake = world.fake

    fake.cve_forbidden = True
    advisory = await file_report(world.bot, fake, "ana")
    await commented(world, advisory, "gpshead", "/accept")  # policy: reserve on accept
    assert "needs admin or security-manager rights" in last_reply(world, advisory)
    assert advisory["cve_id"] is None

    fake.cve_forbidden = False
    await commented(world, advisory, "gpshead", "/cve")
    assert "Requested a CVE ID from GitHub" in last_reply(world, advisory)
    assert advisory["cve_id"] and advisory["cve_id"].startswith("CVE-")
    await commented(world, advisory, "gpshead", "/cve")
    assert f"already has {advisory['cve_id']}" in last_reply(world, advisory)
    assert len(fake.requests_to(r"/cve$", "POST")) == 2  # the refused one and the granted one

    # GitHub assigns CVE IDs only for public repositories.
    fake.repos["python/cpython"]["private"] = True
    other = await file_report(world.bot, fake, "ada")
    await commented(world, other, "gpshead", "/cve")
    reply = last_reply(world, other)
    assert "GitHub refused the CVE request (422)" in reply and "public repositories" in reply
    assert other["cve_id"] is None


# -- the team's own CNA through CVE Services ---------------------------------------------


async def test_cve_services_reserves_on_accept_and_rejects_on_request(
    cna_world: tuple[World, FakeCveServices],
) -> None:
    world, cna = cna_world
    advisory = await file_report(world.bot, world.fake, "bea")
    await commented(world, advisory, "gpshead", "/accept")
    reply = last_reply(world, advisory)
    cve_id = advisory["cve_id"]
    assert cve_id and f"Reserved {cve_id} through CVE Services (PSF)" in reply
    assert cna.ids[cve_id].state == "RESERVED"
    # A second /cve reserves nothing more.
    await commented(world, advisory, "gpshead", "/cve")
    assert "already has" in last_reply(world, advisory)
    assert len(cna.ids) == 1

    await commented(world, advisory, "gpshead", "/cve reject")
    assert f"Removed {cve_id}" in last_reply(world, advisory)
    assert advisory["cve_id"] is None and cna.ids[cve_id].state == "REJECTED"
    # A fresh one can be reserved afterwards; the rejected one is not reused.
    await commented(world, advisory, "gpshead", "/cve")
    assert advisory["cve_id"] not in (None, cve_id)
    log = await world.bot.services.advisories.audit_log("python/cpython", advisory["ghsa_id"])
    assert [e.action for e in log].count("cve-reserved") == 2


def cve_comments(world: World, advisory: dict[str, Any]) -> list[str]:
    return [
        str(c["body"])
        for c in world.fake.comments[("python/cpython", advisory["ghsa_id"])]
        if "cve-on-accept" in c["body"]
    ]


async def test_accepting_on_github_reserves_by_policy_once_and_a_title_tag_does_not(
    cna_world: tuple[World, FakeCveServices],
) -> None:
    world, cna = cna_world
    poller = world.bot.services.poller
    assert poller is not None

    # A coordinator presses GitHub's "Accept and open as draft": the poller sees it.
    on_page = await file_report(world.bot, world.fake, "nia")
    on_page["state"], on_page["updated_at"] = "draft", "2099-01-01T00:00:00Z"
    await poller.poll_once()
    await world.bot.settle()
    assert on_page["cve_id"] in cna.ids
    [note] = cve_comments(world, on_page)
    assert f"Accepted, so by policy: Reserved {on_page['cve_id']}" in note

    # The PSRT's title tag, which the reporter can write too: nothing is reserved, the
    # team is asked to confirm, and a member's /accept reserves.
    tagged = await file_report(world.bot, world.fake, "oto")
    tagged["summary"], tagged["updated_at"] = "[ACCEPTED] zipfile bomb", "2099-01-02T00:00:00Z"
    await poller.poll_once()
    await world.bot.settle()
    assert tagged["state"] == "triage" and tagged["cve_id"] is None and len(cna.ids) == 1
    await commented(world, tagged, "gpshead", "/accept")
    assert tagged["state"] == "draft" and tagged["cve_id"] in cna.ids

    # Seen again (a restart, another poll): nothing more is reserved or said.
    await poller.poll_once()
    await world.bot.settle()
    assert len(cna.ids) == 2
    assert len(cve_comments(world, on_page)) == 1


async def test_cve_services_refusals_are_reported_and_change_nothing(
    start_bot: StartBot,
    fake_github: tuple[FakeGitHub, str],
    fake_cve: tuple[FakeCveServices, dict[str, str]],
) -> None:
    cna, env = fake_cve
    cna.quota = 0
    world = await world_with(start_bot, fake_github, **env)
    advisory = await file_report(world.bot, world.fake, "cai")
    await commented(world, advisory, "gpshead", "/cve")
    assert "EXCEEDED_ID_QUOTA" in last_reply(world, advisory)
    cna.quota, cna.unreachable = 5, True
    await commented(world, advisory, "gpshead", "/cve")
    assert "503" in last_reply(world, advisory)
    cna.unreachable = False
    cna.api_key = "rotated-by-the-cna"  # the bot's key no longer works
    await commented(world, advisory, "gpshead", "/cve")
    assert "401 UNAUTHORIZED" in last_reply(world, advisory)
    assert advisory["cve_id"] is None and cna.ids == {}


async def test_without_credentials_the_cve_command_says_what_is_missing(world: World) -> None:
    advisory = await file_report(world.bot, world.fake, "dee")
    await commented(world, advisory, "gpshead", "/cve")
    assert "CVE_SERVICES_API_KEY are not set" in last_reply(world, advisory)


# -- publication ---------------------------------------------------------------------------


async def make_ready(world: World, advisory: dict[str, Any], reporter: str) -> None:
    """Everything the checklist wants, the way a team gets there."""
    await commented(world, advisory, "gpshead", "/accept")
    await commented(world, advisory, "gpshead", f"/cvss {CVSS4}")
    await commented(world, advisory, "gpshead", "/cwe CWE-400")
    await commented(world, advisory, "gpshead", "/coordinate")
    web = world.bot.services.settings.web_url
    await commented(world, advisory, "gpshead", f"/fix {web}/python/cpython/pull/4242")
    payload = merged_payload(world, 4242, "fixer")
    payload["pull_request"]["merge_commit_sha"] = MERGE_SHA
    await world.bot.send("pull_request", payload)
    await world.bot.settle()


def accept_credits(advisory: dict[str, Any]) -> None:
    """What credited people do on GitHub's page (there is no API for it)."""
    for credit in advisory["credits_detailed"]:
        credit["state"] = "accepted"


async def test_publish_reports_the_checklist_then_publishes_and_exports(
    start_bot: StartBot,
    fake_github: tuple[FakeGitHub, str],
    fake_cve: tuple[FakeCveServices, dict[str, str]],
    bot_env: dict[str, str],
    fixtures: Path,
    tmp_path: Path,
) -> None:
    cna, env = fake_cve
    configure(
        bot_env,
        lambda t: (
            t.replace("bot_may_publish = false", "bot_may_publish = true")
            .replace("publish_record = false", "publish_record = true")
            .replace("description_sections = []", 'description_sections = ["Summary"]')
        ),
    )
    world = await world_with(start_bot, fake_github, **env)
    advisory = await file_report(world.bot, world.fake, "eve")
    await commented(world, advisory, "gpshead", "/publish")
    first = last_reply(world, advisory)
    assert "only a draft can be published" in first

    await make_ready(world, advisory, "eve")
    await commented(world, advisory, "gpshead", "/publish")
    report = last_reply(world, advisory)
    assert "Not ready to publish" in report
    assert "- [ ] credits not accepted: @eve (pending)" in report
    assert "- [x] CVSS v4 vector" in report and "- [x] CVE ID CVE-" in report
    assert advisory["state"] == "draft"

    accept_credits(advisory)
    await commented(world, advisory, "gpshead", "/publish")
    await world.bot.settle()
    assert "Published." in last_reply(world, advisory)
    assert advisory["state"] == "published"

    folder = tmp_path / "var" / "records"
    # psf/advisory-database's layout: its placeholder, numbered by the database itself.
    placeholder = f"PSF-0000-{advisory['cve_id']}"
    osv = json.loads((folder / "advisories" / "python" / f"{placeholder}.json").read_text())
    for name in ("osv-schema.json", "psf-osv-schema.json"):
        schema = json.loads((fixtures / "schemas" / name).read_text())
        jsonschema.Draft202012Validator(schema).validate(osv)
    assert osv["aliases"] == [advisory["cve_id"], advisory["ghsa_id"]]
    assert {"fixed": MERGE_SHA} in osv["affected"][0]["ranges"][0]["events"]
    assert {(c["name"], c["type"]) for c in osv["credits"]} == {
        ("eve", "REPORTER"),
        ("gpshead", "COORDINATOR"),
        ("fixer", "REMEDIATION_DEVELOPER"),
    }
    cve = json.loads((folder / "cve" / f"{advisory['cve_id']}.json").read_text())
    assert cve["cveMetadata"]["assignerOrgId"] == cna.org_uuid
    published = cna.ids[advisory["cve_id"]]
    assert published.state == "PUBLISHED" and published.container is not None
    assert {"lang": "en", "value": "fixer", "type": "remediation developer"} in (
        published.container["credits"]
    )
    # The webhook arriving later, or the poller seeing it: nothing happens twice.
    payload = world.bot.payload("repository_advisory/published.payload.json")
    payload["installation"] = {"id": world.bot.installation_id, "node_id": "x"}
    payload["repository"]["full_name"] = "python/cpython"
    payload["repository_advisory"]["ghsa_id"] = advisory["ghsa_id"]
    await world.bot.send("repository_advisory", payload)
    await world.bot.services.poller.poll_once()
    await world.bot.settle()
    bodies = [c["body"] for c in world.fake.comments[("python/cpython", advisory["ghsa_id"])]]
    assert sum("Published the CVE record" in b for b in bodies) == 1
    assert sum("this advisory is now public" in b for b in bodies) == 1
    assert len([m for m in cna.requests if m[0] == "POST" and m[1].endswith("/cna")]) == 1


async def test_waived_credits_and_a_record_attached_for_review(
    start_bot: StartBot,
    fake_github: tuple[FakeGitHub, str],
    fake_cve: tuple[FakeCveServices, dict[str, str]],
    bot_env: dict[str, str],
) -> None:
    cna, env = fake_cve
    configure(bot_env, lambda t: t.replace("bot_may_publish = false", "bot_may_publish = true"))
    world = await world_with(start_bot, fake_github, **env)
    advisory = await file_report(world.bot, world.fake, "fay")
    await make_ready(world, advisory, "fay")
    await commented(world, advisory, "gpshead", "/publish --waive-credits")
    await world.bot.settle()
    assert "credits not accepted, waived: @fay (pending)" in last_reply(world, advisory)
    assert advisory["state"] == "published"
    bodies = [c["body"] for c in world.fake.comments[("python/cpython", advisory["ghsa_id"])]]
    review = [b for b in bodies if "for review" in b]
    assert len(review) == 1 and '"cveId"' not in review[0] and '"descriptions"' in review[0]
    assert cna.ids[advisory["cve_id"]].state == "RESERVED"  # not published: policy
    # Not accepted, so not public: the reporter is absent from the record's credits.
    assert '"value": "fay"' not in review[0]


async def test_a_record_that_fails_its_schema_is_not_written_and_the_field_is_named(
    start_bot: StartBot,
    fake_github: tuple[FakeGitHub, str],
    bot_env: dict[str, str],
    tmp_path: Path,
) -> None:
    configure(bot_env, lambda t: t.replace("bot_may_publish = false", "bot_may_publish = true"))
    world = await world_with(start_bot, fake_github)
    advisory = await file_report(world.bot, world.fake, "pia")
    await make_ready(world, advisory, "pia")
    # A merge reported with a short commit id: OSV wants full-length hashes.
    short = merged_payload(world, 4343, "fixer")
    await commented(world, advisory, "gpshead", "/fix python/cpython#4343")
    await world.bot.send("pull_request", short)
    await world.bot.settle()
    await commented(world, advisory, "gpshead", "/cve CVE-2026-33333")
    await commented(world, advisory, "gpshead", "/publish --waive-credits")
    await world.bot.settle()
    assert advisory["state"] == "published"
    bodies = [c["body"] for c in world.fake.comments[("python/cpython", advisory["ghsa_id"])]]
    [refusal] = [b for b in bodies if "public records were not written" in b]
    assert "OSV record is invalid at affected[0].ranges[0]" in refusal
    assert not (tmp_path / "var" / "records" / "osv").exists()


async def test_policy_keeps_publishing_with_a_person(world: World) -> None:
    advisory = await file_report(world.bot, world.fake, "gus")
    await make_ready(world, advisory, "gus")
    await commented(world, advisory, "gpshead", "/publish --waive-credits")
    reply = last_reply(world, advisory)
    # The CPython example has no CVE Services credentials here: the CVE item fails.
    assert "Not ready to publish" in reply and "- [ ] no CVE ID: `/cve`" in reply
    await commented(world, advisory, "gpshead", "/cve CVE-2026-99999")
    await commented(world, advisory, "gpshead", "/publish --waive-credits")
    assert "Ready to publish" in last_reply(world, advisory)
    assert "'Publish advisory'" in last_reply(world, advisory)
    assert advisory["state"] == "draft"


async def test_announce_drafts_the_devguide_email(world: World) -> None:
    advisory = await file_report(world.bot, world.fake, "hana")
    await commented(world, advisory, "gpshead", "/announce")
    assert "there is none: /cve" in last_reply(world, advisory)
    await make_ready(world, advisory, "hana")
    advisory["cve_id"] = "CVE-2026-12345"  # typed into the field: not the advisory's own
    await commented(world, advisory, "gpshead", "/announce")
    assert "which the bot did not get for it" in last_reply(world, advisory)
    await commented(world, advisory, "gpshead", "/cve REJECT\n/cve CVE-2026-12345")
    assert "unknown argument" not in last_reply(world, advisory)  # read in any case
    advisory["summary"] = "Quadratic complexity in http.cookies"
    advisory["description"] += "\n```\n**not** inside the draft?\n````\n"
    await commented(world, advisory, "gpshead", "/announce")
    draft = last_reply(world, advisory)
    assert "\n`````text\n" in draft  # a fence longer than any in the description
    assert "Subject: [CVE-2026-12345] Quadratic complexity in http.cookies" in draft
    assert "There is a MEDIUM severity vulnerability affecting CPython." in draft
    assert "https://www.cve.org/CVERecord?id=CVE-2026-12345" in draft
    web = world.bot.services.settings.web_url  # GitHub's web host (GITHUB_WEB_URL), the fake's
    assert f"* {web}/python/cpython/pull/4242" in draft


# -- the credits mirror and the public page ------------------------------------------------


async def test_the_store_mirrors_credits_with_acceptance(world: World) -> None:
    advisory = await file_report(world.bot, world.fake, "ivy")
    await commented(world, advisory, "gpshead", "/credit @alice analyst")
    store = world.bot.services.advisories
    assert store is not None
    mirrored = await store.credits("python/cpython", advisory["ghsa_id"])
    assert [(c.login, c.type, c.state) for c in mirrored] == [
        ("ivy", "reporter", "pending"),
        ("alice", "analyst", "pending"),
    ]
    accept_credits(advisory)
    advisory["updated_at"] = "2099-01-01T00:00:00Z"  # GitHub bumps it on acceptance
    await world.bot.services.poller.poll_once()
    mirrored = await store.credits("python/cpython", advisory["ghsa_id"])
    assert {c.state for c in mirrored} == {"accepted"}


def read_credits_page(url: str, screenshot: Path) -> dict[str, str]:
    from selenium.webdriver.common.by import By

    with chromium(javascript=False) as driver:
        driver.get(url)
        driver.save_screenshot(str(screenshot))
        return {
            "title": str(driver.title),
            "years": str(driver.find_element(By.ID, "years").text),
            "people": str(driver.find_element(By.ID, "people").text),
            "advisories": str(driver.find_element(By.ID, "advisories").text),
            "source": str(driver.page_source),
        }


@pytest.mark.browser
async def test_credits_page_shows_published_advisories_and_never_a_draft(
    start_bot: StartBot,
    fake_github: tuple[FakeGitHub, str],
    bot_env: dict[str, str],
    tmp_path: Path,
) -> None:
    require_browser()
    configure(bot_env, lambda t: t.replace("bot_may_publish = false", "bot_may_publish = true"))
    world = await world_with(start_bot, fake_github)
    public = await file_report(world.bot, world.fake, "jo")
    await make_ready(world, public, "jo")
    await commented(world, public, "gpshead", "/cve CVE-2026-22222")
    public["summary"] = "Published and thanked"
    accept_credits(public)
    await commented(world, public, "gpshead", "/publish")
    await world.bot.settle()
    assert public["state"] == "published"
    draft = await file_report(world.bot, world.fake, "kim")
    draft["summary"] = "EMBARGOED-DRAFT-TEXT"
    await commented(world, draft, "gpshead", "/accept")
    await commented(world, draft, "gpshead", "/credit @mallory analyst")

    screenshot = tmp_path / "credits.png"
    page = await asyncio.to_thread(read_credits_page, f"{world.bot.url}/credits", screenshot)
    assert screenshot.stat().st_size > 0
    assert page["title"] == "Python Security Response Team: credits"
    assert "Published and thanked" in page["advisories"] and "CVE-2026-22222" in page["advisories"]
    assert public["ghsa_id"] in page["advisories"]
    assert "@jo (reporter)" in page["advisories"]
    assert "@fixer" in page["people"] and "remediation developer (1)" in page["people"]
    assert f"{public['published_at'][:4]} 1" in page["years"]
    for secret in ("EMBARGOED-DRAFT-TEXT", draft["ghsa_id"], "mallory", "kim"):
        assert secret not in page["source"]
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{world.bot.url}/credits") as response,
    ):
        assert response.status == 200 and "<script" not in await response.text()


# -- ghsa-bot export -----------------------------------------------------------------------


async def test_export_prints_validated_records_and_explains_what_it_cannot(
    start_bot: StartBot,
    fake_github: tuple[FakeGitHub, str],
    fake_cve: tuple[FakeCveServices, dict[str, str]],
    bot_env: dict[str, str],
    tmp_path: Path,
) -> None:
    cna, env = fake_cve
    configure(bot_env, lambda t: t.replace("bot_may_publish = false", "bot_may_publish = true"))
    world = await world_with(start_bot, fake_github, **env)
    advisory = await file_report(world.bot, world.fake, "lea")
    await make_ready(world, advisory, "lea")
    accept_credits(advisory)
    await commented(world, advisory, "gpshead", "/publish")
    await world.bot.settle()
    cli_env = {**bot_env, **env}
    ghsa = advisory["ghsa_id"]

    code, out, err = await run_cli(cli_env, "export", "osv", ghsa)
    assert code == 0, err
    osv = json.loads(out)
    assert osv["id"] == f"PSF-0000-{advisory['cve_id']}"  # the database numbers it
    written = tmp_path / "var" / "records" / "advisories" / "python" / f"{osv['id']}.json"
    assert json.loads(written.read_text()) == osv

    code, out, err = await run_cli(cli_env, "export", "cve", ghsa, "--output", str(tmp_path / "x"))
    assert code == 0, err
    record = json.loads((tmp_path / "x" / "cve" / f"{advisory['cve_id']}.json").read_text())
    assert record["cveMetadata"]["assignerOrgId"] == cna.org_uuid

    # A draft is read live from GitHub, for review; without a CVE ID there is no CVE record.
    draft = await file_report(world.bot, world.fake, "max")
    code, out, err = await run_cli(cli_env, "export", "cve", draft["ghsa_id"])
    assert code == 2 and "no CVE record: the advisory has no CVE ID" in err
    code, out, err = await run_cli(cli_env, "export", "osv", draft["ghsa_id"])
    assert code == 0 and json.loads(out)["id"] == f"PSF-0000-{draft['ghsa_id']}"  # no CVE ID
    code, out, err = await run_cli(cli_env, "export", "osv", "GHSA-2222-3333-4444")
    assert code == 2 and "not known to the bot" in err


async def test_a_coordinator_credit_the_coordinator_declined_is_shown_as_declined(
    world: World,
) -> None:
    advisory = await file_report(world.bot, world.fake, "fay")
    await make_ready(world, advisory, "fay")
    # The coordinator declines the credit on GitHub's page (there is no API for it).
    for credit in advisory["credits_detailed"]:
        if credit["type"] == "coordinator":
            credit["state"] = "declined"
    await commented(world, advisory, "gpshead", "/publish")
    answer = last_reply(world, advisory)
    assert (
        "coordinator credit: @gpshead, who declined it (GitHub will not show it; "
        "the bot's record keeps who coordinated)" in answer
    ), answer
