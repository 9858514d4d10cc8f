"""Advisory triage end to end: a report in, team access, reporter credit, one acknowledgement."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from handlers.triage import ACK_MARKER
from tests.conftest import StartBot
from tests.fakegithub import FakeGitHub
from tests.harness import REPORT, ROOT, BotUnderTest, reported_payload, run_cli

OUTSIDE_TEAM = {"sethmlarson", "hugovk"}  # roster members kept outside the GitHub team


@pytest.fixture
async def psrt(bot: BotUnderTest, fake_github: tuple[FakeGitHub, str]) -> FakeGitHub:
    """The fake's python/psrt team: every roster member but two."""
    fake, _ = fake_github
    await bot.started()
    roster = bot.services.team_data.roster()
    fake.team_members[("python", "psrt")] = {
        entry.login: "active" for entry in roster if entry.login not in OUTSIDE_TEAM
    }
    return fake


def advisory_path(advisory: dict[str, Any]) -> str:
    return f"/repos/python/cpython/security-advisories/{advisory['ghsa_id']}"


async def test_a_report_gets_one_patch_and_one_acknowledgement(
    bot: BotUnderTest, psrt: FakeGitHub
) -> None:
    fake = psrt
    advisory = fake.new_advisory(
        "python/cpython", summary="tarfile symlink escape", description=REPORT, reporter="alice"
    )
    advisory["credits_detailed"] = [
        {"user": fake._user("bob"), "type": "analyst", "state": "accepted"}
    ]
    advisory["collaborating_users"] = [fake._user("maintainer-x")]
    payload = reported_payload(bot, advisory, "alice")
    sent = await bot.send("repository_advisory", payload)
    assert sent.status == 202
    await bot.settle()

    patches = fake.requests_to(advisory_path(advisory) + "$", "PATCH")
    assert len(patches) == 1
    body = patches[0].body
    assert body["collaborating_teams"] == ["psrt"]
    assert body["collaborating_users"][0] == "maintainer-x"  # kept
    assert set(body["collaborating_users"][1:]) == OUTSIDE_TEAM
    assert body["credits"] == [
        {"login": "bob", "type": "analyst"},  # kept
        {"login": "alice", "type": "reporter"},
    ]
    comments = fake.comments[("python/cpython", advisory["ghsa_id"])]
    assert len(comments) == 2  # the acknowledgement and the experts
    assert "ethanfurman" in comments[1]["body"] and "/invite" in comments[1]["body"]
    text = comments[0]["body"]
    assert text.startswith(ACK_MARKER)
    assert "@alice" in text and "Python Security Response Team" in text
    assert "devguide.python.org/security/policy" in text
    assert "everything our report template asks for" in text

    record = await bot.services.advisories.get("python/cpython", advisory["ghsa_id"])
    assert record is not None and record.reporter == "alice" and record.acknowledged_at
    log = await bot.services.advisories.audit_log("python/cpython", advisory["ghsa_id"])
    assert [entry.action for entry in log] == [
        "access-and-credit",
        "acknowledged",
        "experts-suggested",
    ]
    assert all(entry.delivery == sent.guid for entry in log)

    # A redelivery, a second webhook and the poller finding it: nothing more happens.
    assert (await bot.send("repository_advisory", payload, guid=sent.guid)).status == 200
    assert (await bot.send("repository_advisory", payload)).status == 202
    await bot.services.poller.poll_once()
    await bot.settle()
    assert len(fake.requests_to(advisory_path(advisory) + "$", "PATCH")) == 1
    assert len(fake.comments[("python/cpython", advisory["ghsa_id"])]) == 2


async def test_the_acknowledgement_says_what_the_report_is_missing(
    bot: BotUnderTest, psrt: FakeGitHub
) -> None:
    fake = psrt
    description = (
        "### Summary\nA crash.\n\n### Threat model\n\n### Notes\nCVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H\n"
        "Tested on 3.15.0a1 only."
    )
    advisory = fake.new_advisory(
        "python/cpython", summary="crash", description=description, reporter="carol"
    )
    await bot.send("repository_advisory", reported_payload(bot, advisory, "carol"))
    await bot.settle()
    text = fake.comments[("python/cpython", advisory["ghsa_id"])][0]["body"]
    assert "The **Threat model** section is empty" in text
    assert "no **Proof of concept** section" in text
    assert "no **Versions tested** section" in text
    assert "includes a CVSS score" in text
    assert "names only pre-release versions (3.15)" in text


async def test_a_draft_opened_without_a_webhook_is_found_by_the_poller(
    bot: BotUnderTest, psrt: FakeGitHub
) -> None:
    fake = psrt
    draft = fake.new_advisory(
        "python/cpython",
        summary="maintainer draft",
        description="d",
        reporter="gpshead",
        state="draft",
    )
    report = await bot.services.poller.poll_once()
    assert report.events == 1
    await bot.settle()
    patches = fake.requests_to(advisory_path(draft) + "$", "PATCH")
    assert len(patches) == 1
    assert patches[0].body["collaborating_teams"] == ["psrt"]
    assert "credits" not in patches[0].body  # a maintainer's draft is not a report
    assert fake.comments[("python/cpython", draft["ghsa_id"])] == []

    # It changes on GitHub (accepted in the UI): the poller notices, the record follows.
    draft["state"] = "closed"
    draft["updated_at"] = "2099-01-01T00:00:00Z"
    assert (await bot.services.poller.poll_once()).events == 1
    await bot.settle()
    record = await bot.services.advisories.get("python/cpython", draft["ghsa_id"])
    assert record is not None and record.state == "closed"
    log = await bot.services.advisories.audit_log("python/cpython", draft["ghsa_id"])
    assert log[-1].action == "changed-on-github" and "state" in log[-1].reason


async def test_a_poll_cycle_with_no_changes_costs_only_304s(
    bot: BotUnderTest, psrt: FakeGitHub
) -> None:
    fake = psrt
    fake.new_advisory("python/cpython", summary="s", description=REPORT, reporter="dave")
    await bot.services.poller.poll_once()
    await bot.settle()
    # The bot's own PATCH and comments changed the lists: reads pick that up, no events.
    assert (await bot.services.poller.poll_once()).events == 0
    assert (await bot.services.poller.poll_once()).events == 0
    before = len(fake.requests)
    report = await bot.services.poller.poll_once()
    # The App's own (JWT) requests belong to other jobs, e.g. missed-delivery checks.
    after = [r for r in fake.requests[before:] if r.auth != "jwt"]
    assert report.events == 0 and report.repositories == 2
    # One list for the organization, unchanged; the comments, whose count and the
    # advisory's updated_at did not move, are not read.
    assert [(r.path, r.status) for r in after] == [("/orgs/python/security-advisories", 304)]


async def test_the_backfill_skips_closed_and_published_advisories(
    start_bot: Any, fake_github: tuple[FakeGitHub, str]
) -> None:
    fake, _ = fake_github
    fake.new_advisory("python/cpython", summary="old", description="d", state="draft")["state"] = (
        "published"
    )
    open_report = fake.new_advisory(
        "python/cpython", summary="open", description=REPORT, reporter="erin"
    )
    bot: BotUnderTest = await start_bot()
    await bot.started()
    await bot.settle()
    patched = {
        r.path.rsplit("/", 1)[-1] for r in fake.requests_to("/security-advisories/GHSA", "PATCH")
    }
    assert patched == {open_report["ghsa_id"]}


async def test_a_retry_after_a_crash_does_not_acknowledge_twice(
    bot: BotUnderTest, psrt: FakeGitHub
) -> None:
    fake = psrt
    advisory = fake.new_advisory(
        "python/cpython", summary="s", description=REPORT, reporter="frank"
    )
    # An earlier attempt posted the acknowledgement, then died before recording it.
    key = f"comment:acknowledgement:python/cpython:{advisory['ghsa_id']}:attempted"
    await bot.services.advisories.record_effect(key, at=0)
    fake.add_advisory_comment(
        "python/cpython", advisory["ghsa_id"], "ghsa-bot-test[bot]", ACK_MARKER + "\nHi"
    )
    await bot.send("repository_advisory", reported_payload(bot, advisory, "frank"))
    await bot.settle()
    bodies = [c["body"] for c in fake.comments[("python/cpython", advisory["ghsa_id"])]]
    assert sum(ACK_MARKER in body for body in bodies) == 1
    log = await bot.services.advisories.audit_log("python/cpython", advisory["ghsa_id"])
    assert [e.reason for e in log if e.action == "acknowledged"] == ["found the earlier one"]


async def test_operators_see_open_advisories_and_the_audit_log(
    bot: BotUnderTest, psrt: FakeGitHub, bot_env: dict[str, str]
) -> None:
    fake = psrt
    advisory = fake.new_advisory("python/cpython", summary="s", description=REPORT, reporter="gina")
    await bot.send("repository_advisory", reported_payload(bot, advisory, "gina"))
    await bot.settle()
    code, out, err = await run_cli(bot_env, "advisories")
    assert code == 0, err
    line = next(line for line in out.splitlines() if advisory["ghsa_id"] in line)
    assert "triage" in line and "(none)" in line and "days left" in line
    code, out, err = await run_cli(bot_env, "advisories", "show", advisory["ghsa_id"])
    assert code == 0, err
    assert "reporter: gina" in out
    assert "access-and-credit: set collaborating_teams, collaborating_users, credits" in out
    assert "acknowledged: acknowledgement comment posted" in out
    assert REPORT.splitlines()[1] not in out  # no advisory text
    code, out, err = await run_cli(bot_env, "advisories", "show", "GHSA-xxxx-xxxx-xxxx")
    assert code == 2 and "not known to the bot" in err


@pytest.mark.parametrize(
    ("title", "start", "suggested"),
    [
        ("[ACCEPTED] tarfile escape", "triage", ["/accept"]),
        ("tarfile escape [accepted]", "triage", ["/accept"]),
        ("[CLOSED] not a bug", "triage", ["/reject"]),
        ("[INVALID] works as documented", "draft", ["/reject not-a-vulnerability"]),
        ("[Duplicate] of GHSA-2222-3333-4444", "triage", ["/duplicate"]),
        ("[ACCEPTED] [CLOSED] changed our mind", "triage", ["/accept", "/reject"]),
        ("[ACCEPTED] already a draft", "draft", []),
        ("[COMPLETED] done", "draft", ["/complete"]),
    ],
)
async def test_title_tags_only_ask_a_team_member_to_confirm(
    bot: BotUnderTest, psrt: FakeGitHub, title: str, start: str, suggested: list[str]
) -> None:
    """Anyone who collaborates on the advisory (the reporter too) can edit its title, and
    GitHub does not say who did: a tag changes nothing by itself, it asks for the command."""
    fake = psrt
    advisory = fake.new_advisory("python/cpython", summary="t", description=REPORT, state=start)
    await bot.services.poller.poll_once()
    await bot.settle()
    patches_before = len(fake.requests_to(advisory_path(advisory) + "$", "PATCH"))
    advisory["summary"] = title
    advisory["updated_at"] = "2099-01-01T00:00:00Z"
    await bot.services.poller.poll_once()
    await bot.settle()
    assert advisory["state"] == start
    assert fake.requests_to(advisory_path(advisory) + "$", "PATCH")[patches_before:] == []
    record = await bot.services.advisories.get("python/cpython", advisory["ghsa_id"])
    assert record is not None and record.state == start and record.completed_at is None
    asks = [
        c["body"]
        for c in fake.comments[("python/cpython", advisory["ghsa_id"])]
        if "does not act on tags by itself" in c["body"]
    ]
    assert len(asks) == len(suggested)
    for command in suggested:
        assert any(f"`{command}" in ask for ask in asks), command
    # Seen again: nothing is asked twice.
    advisory["updated_at"] = "2099-01-02T00:00:00Z"
    advisory["summary"] = title + " "
    await bot.services.poller.poll_once()
    await bot.settle()
    assert len(
        [
            c
            for c in fake.comments[("python/cpython", advisory["ghsa_id"])]
            if "does not act on tags by itself" in c["body"]
        ]
    ) == len(suggested)


@pytest.mark.parametrize(
    ("title", "start", "end"),
    [
        ("[ACCEPTED] tarfile escape", "triage", "draft"),
        ("[CLOSED] not a bug", "triage", "closed"),
        ("[ACCEPTED] [CLOSED] changed our mind", "triage", "closed"),
        ("[COMPLETED] done", "draft", "draft"),
    ],
)
async def test_title_tags_act_only_with_the_unsafe_option(
    start_bot: StartBot,
    fake_github: tuple[FakeGitHub, str],
    bot_env: dict[str, str],
    title: str,
    start: str,
    end: str,
) -> None:
    toml = Path(bot_env["BOT_CONFIG"]) / "bot.toml"
    toml.write_text(
        toml.read_text() + "\n[unsafe]\ncollaborators_change_state_with_title_tags = true\n"
    )
    bot = await start_bot()
    await bot.started()
    fake = fake_github[0]
    advisory = fake.new_advisory("python/cpython", summary="t", description=REPORT, state=start)
    await bot.services.poller.poll_once()
    await bot.settle()
    advisory["summary"] = title
    advisory["updated_at"] = "2099-01-01T00:00:00Z"
    await bot.services.poller.poll_once()
    await bot.settle()
    assert advisory["state"] == end
    record = await bot.services.advisories.get("python/cpython", advisory["ghsa_id"])
    assert record is not None and record.state == end
    assert (record.completed_at is not None) == ("COMPLETED" in title.upper())
    assert (await bot.services.poller.poll_once()).events == 0


async def test_title_tags_off_wins_over_the_unsafe_option(
    start_bot: StartBot, fake_github: tuple[FakeGitHub, str], bot_env: dict[str, str]
) -> None:
    """An operator who turned tags off and left the unsafe option on: a reporter's
    `[CLOSED]` retitle closes nothing and asks nothing."""
    toml = Path(bot_env["BOT_CONFIG"]) / "bot.toml"
    text = toml.read_text().replace('mode = "suggest"', 'mode = "off"', 1)
    toml.write_text(text + "\n[unsafe]\ncollaborators_change_state_with_title_tags = true\n")
    bot = await start_bot()
    await bot.started()
    fake = fake_github[0]
    advisory = fake.new_advisory("python/cpython", summary="t", description=REPORT)
    await bot.services.poller.poll_once()
    await bot.settle()
    comments_before = len(fake.comments[("python/cpython", advisory["ghsa_id"])])
    advisory["summary"] = "[CLOSED] not a bug"
    advisory["updated_at"] = "2099-01-01T00:00:00Z"
    await bot.services.poller.poll_once()
    await bot.settle()
    assert advisory["state"] == "triage"
    assert len(fake.comments[("python/cpython", advisory["ghsa_id"])]) == comments_before
    record = await bot.services.advisories.get("python/cpython", advisory["ghsa_id"])
    assert record is not None and record.state == "triage"


async def test_publication_is_recorded_and_the_reporter_thanked_once(
    bot: BotUnderTest, psrt: FakeGitHub
) -> None:
    fake = psrt
    advisory = fake.new_advisory("python/cpython", summary="s", description=REPORT, reporter="hana")
    await bot.send("repository_advisory", reported_payload(bot, advisory, "hana"))
    await bot.settle()
    advisory["credits_detailed"][0]["state"] = "accepted"  # hana accepted on github.com
    advisory["state"] = "published"
    advisory["published_at"] = advisory["updated_at"] = "2099-01-01T00:00:00Z"
    payload = reported_payload(bot, advisory, "hana")
    payload["action"] = "published"
    assert (await bot.send("repository_advisory", payload)).status == 202
    await bot.services.poller.poll_once()  # it sees the state change too
    await bot.settle()
    comments = fake.comments[("python/cpython", advisory["ghsa_id"])]
    thanks = [c["body"] for c in comments if "now public" in c["body"]]
    assert len(thanks) == 1 and "credited as reporter." in thanks[0]
    record = await bot.services.advisories.get("python/cpython", advisory["ghsa_id"])
    assert record is not None and record.state == "published" and record.completed_at
    assert record.final_credits is not None
    assert {"login": "hana", "type": "reporter", "state": "accepted"} in json.loads(
        record.final_credits
    )


async def test_auto_invite_experts_is_a_policy_off_by_default(
    start_bot: Any, fake_github: tuple[FakeGitHub, str], tmp_path: Path
) -> None:
    fake, _ = fake_github
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    toml = config / "bot.toml"
    toml.write_text(
        toml.read_text().replace(
            'reporter_credit = "reporter"',
            'reporter_credit = "reporter"\nauto_invite_experts = true',
        )
    )
    bot: BotUnderTest = await start_bot(BOT_CONFIG=str(config))
    await bot.started()
    # Invited automatically only as a member: here the GitHub team confirms them.
    fake.team_members[("python", "psrt")] = {"gpshead": "active", "ethanfurman": "active"}
    advisory = fake.new_advisory(
        "python/cpython", summary="tarfile escape", description=REPORT, reporter="olga"
    )
    await bot.send("repository_advisory", reported_payload(bot, advisory, "olga"))
    await bot.settle()
    invited = [u["login"] for u in advisory["collaborating_users"]]
    assert "ethanfurman" in invited  # the CODEOWNERS owner of Lib/tarfile.py
    log = await bot.services.advisories.audit_log("python/cpython", advisory["ghsa_id"])
    assert any(e.action == "experts-invited" and "ethanfurman" in e.reason for e in log)
