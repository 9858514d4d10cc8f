"""Linked advisories across two installations in two organizations, end to end.

python/cpython (with python/devguide) and pypa/pip are installed separately on
the fake GitHub, which refuses a team of another organization as a collaborator
(GitHub resolves `collaborating_teams` in the advisory's own organization). A
report in CPython is accepted, then `/affects pypa/pip` opens a linked draft
in pip; `/status`, `/embargo`, `/cve` and `/publish` act on the group; the
refusals hold for the reporter, an outsider, a repository the App is not on,
and a credit the reporter wrote.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

from tests.conftest import StartBot
from tests.fakegithub import FakeGitHub
from tests.governance_helpers import signed_in
from tests.harness import REPORT, World, file_report, scan, world_with
from tests.scenarios import configure

CVSS4 = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:N/VA:N/SC:N/SI:N/SA:N"


async def said(
    world: World, repository: str, advisory: dict[str, Any], login: str, body: str
) -> str:
    """Comment as `login` on an advisory of any repository; the bot's reply to it, or ""."""
    comment = world.fake.add_advisory_comment(repository, advisory["ghsa_id"], login, body)
    await world.bot.services.poller.poll_comments()
    await world.bot.settle()
    replies = [
        str(c["body"])
        for c in world.fake.comments[(repository, advisory["ghsa_id"])]
        if f"<!-- ghsa-bot:reply:{comment['id']}:" in c["body"]
    ]
    return replies[-1] if replies else ""


def bodies(fake: FakeGitHub, repository: str, advisory: dict[str, Any]) -> list[str]:
    return [str(c["body"]) for c in fake.comments[(repository, advisory["ghsa_id"])]]


def osv_record_of(folder: Path, ghsa_id: str) -> dict[str, Any]:
    """The OSV record written for `ghsa_id` (its own id, or an alias of it)."""
    for path in folder.rglob("*.json"):
        if "cve" in path.parts:
            continue
        record: dict[str, Any] = json.loads(path.read_text())
        if record["id"] == ghsa_id or ghsa_id in record.get("aliases", []):
            return record
    raise AssertionError(f"no OSV record of {ghsa_id} in {folder}")


def only_draft(fake: FakeGitHub, repository: str) -> dict[str, Any]:
    [draft] = fake.advisories[repository].values()
    return draft


def logins(items: list[dict[str, Any]] | None) -> set[str]:
    return {str(i["login"]) for i in items or []}


async def two_organizations(
    start_bot: StartBot, fake_github: tuple[FakeGitHub, str], bot_env: dict[str, str]
) -> World:
    fake, _ = fake_github
    fake.add_installation("pypa", ["pypa/pip"])
    fake.add_repository("elsewhere/lib")  # the App is not installed there
    fake.org_teams = {"python": {"psrt"}, "pypa": {"pip-committers"}}
    configure(
        bot_env,
        lambda t: (
            t.replace('provider = "cve-services"', 'provider = "github"')
            .replace(
                'checklist = ["cvss_v4", "cwe", "coordinator_credit", "merged_fix", '
                '"description_sections", "cve", "credits_accepted"]',
                'checklist = ["cvss_v4", "cwe", "coordinator_credit", "cve"]',
            )
            .replace("bot_may_publish = false", "bot_may_publish = true")
        ),
    )
    return await world_with(start_bot, fake_github, GITHUB_CLIENT_SECRET=fake.app.client_secret)


async def accepted_report(world: World, reporter: str) -> dict[str, Any]:
    report = await file_report(world.bot, world.fake, reporter)
    for command in ("/accept", "/coordinate", f"/cvss {CVSS4}"):
        await said(world, "python/cpython", report, "gpshead", command)
    assert report["state"] == "draft"
    return report


async def test_a_report_linked_to_a_draft_in_another_organization(
    start_bot: StartBot, fake_github: tuple[FakeGitHub, str], bot_env: dict[str, str]
) -> None:
    world = await two_organizations(start_bot, fake_github, bot_env)
    fake, store = world.fake, world.bot.services.advisories
    report = await accepted_report(world, "ana")
    cpython = ("python/cpython", report["ghsa_id"])

    # The reporter (a write collaborator here) credits an outsider: that grants nothing.
    report["credits"].append({"login": "mallory", "type": "analyst"})
    report["credits_detailed"].append(
        {"user": fake._user("mallory"), "type": "analyst", "state": "pending"}
    )
    report["summary"] = "tarfile extractall follows a symlink out of the destination"
    # ...and plants one of the bot's hidden markers in the description it wrote.
    report["description"] += "\n<!-- ghsa-bot:affects:planted -->\n"
    # Refusals: the reporter and an outsider are told no; nothing is opened.
    for who in ("ana", "mallory"):
        for verb in ("/affects pypa/pip --package pip", "/link GHSA-2345-6789-cfgh"):
            answer = await said(world, "python/cpython", report, who, verb)
            assert f"Denied: @{who} may not use `/{verb.split()[0][1:]}`" in answer
        answer = await said(world, "python/cpython", report, who, "/embargo 2099-01-01")
        assert f"Denied: @{who}" in answer
    answer = await said(world, "python/cpython", report, "gpshead", "/affects elsewhere/lib")
    assert "the App is not installed on elsewhere/lib" in answer
    assert "Ask that project's maintainers to install the App" in answer
    assert fake.requests_to(r"/security-advisories$", "POST") == []

    # /affects opens the draft in pip, with the same details and the right access.
    answer = await said(
        world,
        "python/cpython",
        report,
        "sethmlarson",
        "/affects pypa/pip --package pip the vendored copy in pip/_vendor",
    )
    pip = only_draft(fake, "pypa/pip")
    assert f"Opened pypa/pip {pip['ghsa_id']} for the package `pip` (pip)" in answer
    assert pip["state"] == "draft" and pip["summary"] == report["summary"]
    assert REPORT.strip() in pip["description"]
    assert "planted" not in pip["description"]  # the bot's markers are never copied
    assert pip["cvss_severities"]["cvss_v4"]["vector_string"] == CVSS4
    assert pip["vulnerabilities"][0]["package"] == {"ecosystem": "pip", "name": "pip"}
    coordinator_credits = [c for c in pip["credits_detailed"] if c["type"] == "coordinator"]
    assert [c["user"]["login"] for c in coordinator_credits] == ["gpshead"]
    # Another organization: the coordinator and the member who asked, as users; no team,
    # and never the outsider a credit named.
    assert logins(pip["collaborating_users"]) == {"gpshead", "sethmlarson"}
    assert pip["collaborating_teams"] == []
    assert "mallory" not in json.dumps(pip)
    pip_key = ("pypa/pip", pip["ghsa_id"])
    assert await store.linked_group(*cpython) == sorted([cpython, pip_key])
    assert await store.linked_group(*pip_key) == sorted([cpython, pip_key])
    # One comment on both sides naming the other; an audit entry on both.
    [here] = [b for b in bodies(fake, "python/cpython", report) if "Linked with pypa/pip" in b]
    [there] = [b for b in bodies(fake, "pypa/pip", pip) if "Linked with python/cpython" in b]
    assert "Note from @sethmlarson: the vendored copy in pip/_vendor" in there
    assert report["summary"] not in here + there  # names only, never the other's text
    for key in (cpython, pip_key):
        assert "linked" in [e.action for e in await store.audit_log(*key)]
    # Again: nothing more is opened, said or granted.
    answer = await said(world, "python/cpython", report, "gpshead", "/affects pypa/pip")
    assert "Already linked with pypa/pip" in answer
    assert len(fake.advisories["pypa/pip"]) == 1
    assert len([b for b in bodies(fake, "pypa/pip", pip) if "Linked with" in b]) == 1

    # A new coordinator is the group's: credited on pip too, with access there.
    roster = [e.login for e in world.bot.services.team_data.roster()]
    successor = next(name for name in roster if name not in {"gpshead", "sethmlarson"})
    answer = await said(world, "python/cpython", report, "gpshead", f"/assign @{successor}")
    assert f"Credited on the linked pypa/pip {pip['ghsa_id']} too" in answer, answer
    pip_coordinators = [c["user"]["login"] for c in pip["credits_detailed"] if c["type"] == "coordinator"]
    assert pip_coordinators == ["gpshead", successor]
    assert successor in logins(pip["collaborating_users"])
    answer = await said(world, "python/cpython", report, "gpshead", f"/assign @{successor}")
    assert [c["user"]["login"] for c in pip["credits_detailed"]].count(successor) == 1
    world.clock.advance(601)  # past the reply budget (10 a person per 10 minutes)

    # The same organization: the team collaborates, and /unlink undoes the link.
    await said(world, "python/cpython", report, "gpshead", "/affects python/devguide")
    devguide = only_draft(fake, "python/devguide")
    assert [t["slug"] for t in devguide["collaborating_teams"]] == ["psrt"]
    assert len(await store.linked_group(*cpython)) == 3
    answer = await said(
        world, "python/cpython", report, "gpshead", f"/unlink {devguide['ghsa_id']}"
    )
    assert f"Unlinked from python/devguide {devguide['ghsa_id']}" in answer
    assert any(
        "Unlinked from python/cpython" in b for b in bodies(fake, "python/devguide", devguide)
    )
    assert await store.linked_group(*cpython) == sorted([cpython, pip_key])

    # /link to an advisory in a repository the App is not on: found nowhere, said why.
    foreign = fake.new_advisory("elsewhere/lib", summary="x", description="y", state="draft")
    answer = await said(world, "python/cpython", report, "gpshead", f"/link {foreign['ghsa_id']}")
    assert "not found in any repository the App is installed on" in answer
    answer = await said(
        world, "python/cpython", report, "gpshead", f"/link elsewhere/lib {foreign['ghsa_id']}"
    )
    assert "the App is not installed on elsewhere/lib" in answer

    # /embargo: one date for the group, shown by /status, reminders before it.
    today = datetime.datetime.fromtimestamp(world.clock.now(), datetime.UTC).date()
    date = today + datetime.timedelta(days=20)
    answer = await said(world, "python/cpython", report, "gpshead", f"/embargo {date}")
    assert f"Planned disclosure date set to {date}" in answer and "pypa/pip" in answer
    assert await store.planned_disclosure(*pip_key) == date
    assert any(f"**{date}**" in b for b in bodies(fake, "pypa/pip", pip))
    status = await said(world, "python/cpython", report, "ana", "/status")  # the reporter may
    assert f"**Planned disclosure:** {date}" in status
    assert f"pypa/pip {pip['ghsa_id']}: draft; lacks a CWE, a CVE ID the bot got for it" in status
    # The dashboard shows the group: both advisories, each naming the other, the date.
    session = await signed_in(world.bot.url, fake, "gpshead")
    async with session, session.get(f"{world.bot.url}/dashboard") as response:
        assert response.status == 200
        page = await response.text()
    for ghsa_id, other in ((report["ghsa_id"], pip["ghsa_id"]), (pip["ghsa_id"], report["ghsa_id"])):
        row = page.split(f'data-ghsa="{ghsa_id}"', 1)[1].split("</tr>", 1)[0]
        assert other in row and str(date) in row, row
    world.clock.advance(13 * 86400 + 60)
    await scan(world.bot)
    for repository, advisory in (("python/cpython", report), ("pypa/pip", pip)):
        reminders = [b for b in bodies(fake, repository, advisory) if "disclosure-reminder" in b]
        assert len(reminders) == 1 and "is in 7 days" in reminders[0]
    await scan(world.bot)  # seen again: nothing more
    assert len([b for b in bodies(fake, "pypa/pip", pip) if "disclosure-reminder" in b]) == 1

    # /publish checks the whole group and reports per advisory.
    answer = await said(world, "python/cpython", report, "gpshead", "/publish")
    assert "Not ready to publish" in answer and f"pypa/pip {pip['ghsa_id']}: lacks a CWE" in answer
    # /cve reserves one per advisory of the group that lacks one.
    answer = await said(world, "python/cpython", report, "gpshead", "/cve")
    assert "One CVE ID per advisory of the linked group" in answer
    assert report["cve_id"] and pip["cve_id"] and report["cve_id"] != pip["cve_id"]
    await said(world, "python/cpython", report, "gpshead", "/cwe CWE-22")
    answer = await said(world, "python/cpython", report, "gpshead", "/publish")
    assert "Not ready to publish" in answer  # pip still lacks its CWE
    assert report["state"] == "draft" and pip["state"] == "draft"
    await said(world, "pypa/pip", pip, "gpshead", "/cwe CWE-22")
    answer = await said(world, "python/cpython", report, "gpshead", "/publish")
    assert "Published the linked group" in answer
    assert report["state"] == "published" and pip["state"] == "published"
    # Published by the group's /publish: nobody is warned of a lone publication.
    assert not any("published-alone" in b for b in bodies(fake, "pypa/pip", pip))
    # The records name each other: OSV `related`, CVE `references`.
    folder = Path(bot_env["BOT_CONFIG"]).parent / "var" / "records"
    osv = [json.loads(p.read_text()) for p in folder.rglob("*.json") if "cve" not in p.parts]
    mine = next(r for r in osv if report["ghsa_id"] in json.dumps(r.get("aliases", [])) + r["id"])
    assert pip["ghsa_id"] in mine["related"] and pip["cve_id"] in mine["related"]
    theirs = osv_record_of(folder, pip["ghsa_id"])
    assert report["ghsa_id"] in theirs["related"] and report["cve_id"] in theirs["related"]


async def test_publishing_one_advisory_by_hand_warns_the_others_at_once(
    start_bot: StartBot, fake_github: tuple[FakeGitHub, str], bot_env: dict[str, str]
) -> None:
    world = await two_organizations(start_bot, fake_github, bot_env)
    fake = world.fake
    report = await accepted_report(world, "bea")
    # GitHub makes the draft but the answer is lost: the command fails, says so, and
    # the next /affects finds the draft it made (its hidden marker) instead of a second.
    fake.inject(r"^/repos/pypa/pip/security-advisories$", method="POST", drop_after=True)
    answer = await said(world, "python/cpython", report, "gpshead", "/affects pypa/pip")
    assert "Failed:" in answer and len(fake.advisories["pypa/pip"]) == 1
    answer = await said(world, "python/cpython", report, "gpshead", "/affects pypa/pip")
    pip = only_draft(fake, "pypa/pip")
    assert f"Opened pypa/pip {pip['ghsa_id']}" in answer
    assert len(fake.requests_to(r"^/repos/pypa/pip/security-advisories$", "POST")) == 1

    # A pip admin publishes pip's advisory alone, with a CVE ID typed into its field
    # (not one the bot got for it); GitHub sends the webhook.
    pip["state"], pip["published_at"] = "published", "2099-01-01T00:00:00Z"
    pip["cve_id"] = "CVE-2026-31337"
    payload = world.bot.payload("repository_advisory/published.payload.json")
    pypa = next(i for i, repos in fake.installation_repos.items() if "pypa/pip" in repos)
    payload["installation"] = {"id": pypa, "node_id": "x"}
    payload["repository"]["full_name"] = "pypa/pip"
    payload["repository_advisory"]["ghsa_id"] = pip["ghsa_id"]
    await world.bot.send("repository_advisory", payload)
    await world.bot.settle()
    [warning] = [b for b in bodies(fake, "python/cpython", report) if "published-alone" in b]
    assert f"pypa/pip {pip['ghsa_id']}, linked with this advisory, was published" in warning
    assert "@gpshead" in warning
    # The poller seeing the same publication says nothing more.
    await world.bot.send("repository_advisory", payload)
    await world.bot.settle()
    assert len([b for b in bodies(fake, "python/cpython", report) if "published-alone" in b]) == 1
    # pip's records were written alone: CPython's advisory is still under embargo.
    folder = Path(bot_env["BOT_CONFIG"]).parent / "var" / "records"
    assert "related" not in osv_record_of(folder, pip["ghsa_id"])

    # CPython's is published later, by hand too: both records now name each other.
    report["state"], report["published_at"] = "published", "2099-01-02T00:00:00Z"
    payload["installation"] = {"id": world.bot.installation_id, "node_id": "x"}
    payload["repository"]["full_name"] = "python/cpython"
    payload["repository_advisory"]["ghsa_id"] = report["ghsa_id"]
    await world.bot.send("repository_advisory", payload)
    await world.bot.settle()
    assert pip["ghsa_id"] in osv_record_of(folder, report["ghsa_id"])["related"]
    # A CVE ID the bot did not get is named by no record, pip's own or CPython's.
    assert "CVE-2026-31337" not in json.dumps(osv_record_of(folder, report["ghsa_id"]))
    assert "CVE-2026-31337" not in json.dumps(osv_record_of(folder, pip["ghsa_id"]))
    assert report["ghsa_id"] in osv_record_of(folder, pip["ghsa_id"])["related"]
    audit = await world.bot.services.advisories.audit_log("pypa/pip", pip["ghsa_id"])
    assert [entry for entry in audit if entry.action == "records-written"][1:], audit


async def test_linking_an_existing_advisory_shares_deadline_date_and_readiness(
    start_bot: StartBot, fake_github: tuple[FakeGitHub, str], bot_env: dict[str, str]
) -> None:
    fake, _ = fake_github
    fake.add_installation("pypa", ["pypa/pip"])
    fake.org_teams = {"python": {"psrt"}, "pypa": {"pip-committers"}}
    configure(
        bot_env,
        lambda t: t.replace(
            'checklist = ["cvss_v4", "cwe", "coordinator_credit", "merged_fix", '
            '"description_sections", "cve", "credits_accepted"]',
            'checklist = ["cwe", "coordinator_credit"]',
        ),
    )  # the shipped policy: publishing stays with people
    world = await world_with(start_bot, fake_github)
    report = await accepted_report(world, "cai")
    # pip's maintainers opened their own draft; the App is installed on pip.
    pip = fake.new_advisory("pypa/pip", summary="pip's own words", description="d", state="draft")

    answer = await said(world, "python/cpython", report, "gpshead", f"/link {pip['ghsa_id']}")
    assert f"Linked with pypa/pip {pip['ghsa_id']}" in answer
    assert logins(pip["collaborating_users"]) == {"gpshead"}  # coordinator, who asked
    assert [c["user"]["login"] for c in pip["credits_detailed"]] == ["gpshead"]
    assert "pip's own words" not in "".join(bodies(fake, "python/cpython", report))
    answer = await said(
        world, "python/cpython", report, "gpshead", f"/link pypa/pip {pip['ghsa_id']}"
    )
    assert "Already linked" in answer
    assert len([b for b in bodies(fake, "pypa/pip", pip) if "Linked with" in b]) == 1
    assert [c["type"] for c in pip["credits_detailed"]].count("coordinator") == 1

    # One 90-day deadline for the group: the earliest report's.
    world.clock.advance(5 * 86400)
    here = await said(world, "python/cpython", report, "gpshead", "/status")
    there = await said(world, "pypa/pip", pip, "gpshead", "/status")
    deadline = next(line for line in here.splitlines() if "**deadline**" in line)
    assert deadline.split("**deadline**")[1] in there

    # /embargo once for the group; again, nothing more is said.
    date = datetime.datetime.fromtimestamp(world.clock.now(), datetime.UTC).date()
    date += datetime.timedelta(days=30)
    await said(world, "pypa/pip", pip, "gpshead", f"/embargo {date}")
    assert (
        await world.bot.services.advisories.planned_disclosure("python/cpython", report["ghsa_id"])
        == date
    )
    answer = await said(world, "pypa/pip", pip, "gpshead", f"/embargo {date}")
    assert "already" in answer
    assert len([b for b in bodies(fake, "python/cpython", report) if f"**{date}**" in b]) == 1
    # Cleared, then set again: each change is told to the group, the second set too.
    await said(world, "pypa/pip", pip, "gpshead", "/embargo none")
    await said(world, "pypa/pip", pip, "gpshead", f"/embargo {date}")
    told = bodies(fake, "python/cpython", report)
    assert len([b for b in told if "**none**" in b]) == 1
    assert len([b for b in told if f"**{date}**" in b]) == 2
    assert "has passed" in await said(world, "pypa/pip", pip, "gpshead", "/embargo 2001-01-01")
    listing = await said(world, "pypa/pip", pip, "gpshead", "/help")  # written from the registry
    for usage in ("/affects OWNER/REPO", "/link [OWNER/REPO] GHSA-", "/unlink GHSA-", "/embargo"):
        assert f"`{usage}" in listing

    # Ready together: declared for the admins on every advisory; nothing is published.
    await said(world, "python/cpython", report, "gpshead", "/cwe CWE-22")
    await said(world, "pypa/pip", pip, "gpshead", "/cwe CWE-22")
    answer = await said(world, "pypa/pip", pip, "gpshead", "/publish")
    assert "The linked group is ready to publish together" in answer
    assert any("group-ready" in b for b in bodies(fake, "python/cpython", report))
    assert report["state"] == "draft" and pip["state"] == "draft"

    # pypa uninstalls the App: the group cannot be checked whole, so nothing is declared
    # or published, and the reply says which and why.
    pypa = next(i for i, repos in fake.installation_repos.items() if "pypa/pip" in repos)
    payload = world.bot.payload("installation/deleted.payload.json")
    payload["installation"] = dict(fake.installations.pop(pypa))
    del fake.installation_repos[pypa]
    await world.bot.send("installation", payload)
    await world.bot.settle()
    answer = await said(world, "python/cpython", report, "gpshead", "/publish")
    assert "Not ready to publish" in answer
    assert f"pypa/pip {pip['ghsa_id']}: cannot be read (the App is not installed" in answer
    status = await said(world, "python/cpython", report, "cai", "/status")
    assert f"pypa/pip {pip['ghsa_id']}: unknown; cannot be read" in status


async def test_a_report_filed_in_another_organization_gives_the_roster_access_as_users(
    start_bot: StartBot, fake_github: tuple[FakeGitHub, str], bot_env: dict[str, str]
) -> None:
    """GitHub refuses the team (python/psrt) on pypa's advisory: triage adds the
    roster's members as collaborating users there, and no team."""
    fake, _ = fake_github
    pypa = fake.add_installation("pypa", ["pypa/pip"])
    fake.org_teams = {"python": {"psrt"}, "pypa": {"pip-committers"}}
    world = await world_with(start_bot, fake_github)
    advisory = fake.new_advisory("pypa/pip", summary="s", description=REPORT, reporter="ana")
    payload = world.bot.payload("repository_advisory/reported.payload.json")
    payload["installation"] = {"id": pypa, "node_id": "x"}
    payload["repository"]["full_name"] = "pypa/pip"
    payload["repository_advisory"]["ghsa_id"] = advisory["ghsa_id"]
    payload["sender"]["login"] = "ana"
    sent = await world.bot.send("repository_advisory", payload)
    assert sent.status == 202
    await world.bot.settle()
    stored = await world.bot.services.store.get_delivery(sent.guid)
    assert stored is not None and stored.state == "done", stored
    assert not advisory.get("collaborating_teams")
    roster = {entry.login for entry in world.bot.services.team_data.roster()}
    assert roster and roster <= logins(advisory.get("collaborating_users"))
    assert "ana" not in logins(advisory.get("collaborating_users"))
