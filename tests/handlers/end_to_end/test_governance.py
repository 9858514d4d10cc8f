"""PEP 811 votes end to end: nominations in a governance issue, secret ballots, the close."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from bot.governance.votes import tally
from tests.fakegithub import FakeGitHub
from tests.governance_helpers import (
    DAY,
    GOVERNANCE,
    Governance,
    cast_ballot,
    signed_in,
    start_governance,
)
from tests.harness import SteppedClock, load_payload


@pytest.mark.parametrize(
    ("yes", "no", "abstain", "passed"),
    [
        (2, 1, 0, True),  # exactly two-thirds
        (4, 2, 5, True),  # abstentions do not count
        (199, 101, 0, False),  # 66.3 %: just below
        (1, 1, 0, False),
        (0, 0, 3, False),  # only abstentions: no votes cast
    ],
)
def test_two_thirds_of_votes_cast(yes: int, no: int, abstain: int, passed: bool) -> None:
    result = tally(["yes"] * yes + ["no"] * no + ["abstain"] * abstain)
    assert result.passed is passed


def test_quorum_counts_ballots_with_abstentions() -> None:
    assert not tally(["yes", "yes"], quorum=3).passed
    assert tally(["yes", "yes", "abstain"], quorum=3).passed


async def nominate(gov: Governance, nominator: str, nominee: str) -> int:
    await gov.comment(nominator, f"/nominate @{nominee} fixed three CVEs in ssl and zipfile")
    [nomination] = await gov.bot.services.governance.nominations()
    return nomination.id


async def test_secret_ballot_passes_at_exactly_two_thirds_then_the_veto_window_ends(
    start_bot: Any, fake_github: tuple[FakeGitHub, str]
) -> None:
    fake, _ = fake_github
    gov = await start_governance(start_bot, fake, SteppedClock())
    members = [m for m in gov.members() if m != "warsaw"]
    nomination = await nominate(gov, "warsaw", "octo-newcomer")
    [opened] = gov.bot_comments()
    assert "/vote/1" in opened and "secret" in opened

    # 4 yes, 2 no, 1 abstain: 4 of 6 votes cast, exactly two-thirds.
    choices = ["yes", "yes", "yes", "no", "no", "abstain", "yes"]
    for login, choice in zip(members, choices, strict=False):
        async with await signed_in(gov.bot.url, fake, login) as session:
            status, page = await cast_ballot(session, gov.bot.url, nomination, choice)
            assert status == 200 and "Your ballot is recorded" in page
    # A member changes their mind twice; only the last ballot counts.
    async with await signed_in(gov.bot.url, fake, members[6]) as session:
        await cast_ballot(session, gov.bot.url, nomination, "no")
        status, page = await cast_ballot(session, gov.bot.url, nomination, "yes")
        assert status == 200 and "Yes" in page
    # A non-member is refused and nothing of the nomination is shown to them.
    async with await signed_in(gov.bot.url, fake, "stranger") as session:
        status, page = await cast_ballot(session, gov.bot.url, nomination, "yes")
        assert status == 403 and "octo-newcomer" not in page

    # Before the close nothing anywhere says how anyone voted.
    assert len(gov.bot_comments()) == 1
    await gov.scan()  # the week is not over: nothing to close
    assert not any("passed" in body for body in gov.bot_comments())

    gov.clock.advance(7 * DAY)
    await gov.scan()
    result = gov.bot_comments()[-1]
    assert "passed" in result and "4 yes, 2 no, 1 abstaining" in result
    assert "4 of 6 votes cast are yes" in result and "Email to the steering council" in result
    assert "@warsaw" in result  # the admins are told
    web = gov.bot.services.settings.web_url  # GitHub's web host (GITHUB_WEB_URL), the fake's
    assert f"@octo-newcomer ({web}/octo-newcomer), nominated by" in result
    await gov.scan()  # again: no second result
    assert sum("passed" in body for body in gov.bot_comments()) == 1

    gov.clock.advance(7 * DAY)
    await gov.scan()
    approved = gov.bot_comments()[-1]
    assert "joins the" in approved
    assert f"{web}/orgs/python/teams/psrt/members" in approved
    assert "[members.octo-newcomer]" in approved and ",octo-newcomer," in approved
    log = await gov.audit(nomination)
    assert log[0].startswith("nominated: @warsaw nominated @octo-newcomer")
    assert sum(line.startswith("ballot cast") for line in log) == 7
    assert sum(line.startswith("ballot changed") for line in log) == 2
    assert any(line.startswith("vote closed: veto_window") for line in log)
    assert log[-1] == "approved: no veto in the window"
    assert not any(choice in line for line in log for choice in ("voted yes", "voted no"))


async def test_open_vote_in_comments_fails_just_below_two_thirds(
    start_bot: Any, fake_github: tuple[FakeGitHub, str], bot_env: dict[str, str]
) -> None:
    fake, _ = fake_github
    config = bot_env["BOT_CONFIG"] + "/bot.toml"
    with open(config, encoding="utf-8") as handle:
        text = handle.read().replace('votes = "ballot"', 'votes = "comments"')
    with open(config, "w", encoding="utf-8") as handle:
        handle.write(text)
    gov = await start_governance(start_bot, fake, SteppedClock())
    members = gov.members()
    nomination = await nominate(gov, members[0], "octo-newcomer")
    # 5 yes and 3 no is 62.5 %; two abstain; one member changes yes to no.
    votes = ["yes"] * 5 + ["no"] * 2 + ["abstain"] * 2 + ["yes"]
    for login, choice in zip(members, votes, strict=False):
        await gov.comment(login, f"/vote {choice}")
    await gov.comment(members[9], "/vote no")
    assert "changed their vote to no" in gov.bot_comments()[-1]
    await gov.comment("stranger", "/vote yes")
    assert "Denied: @stranger may not use `/vote`" in gov.bot_comments()[-1]
    gov.clock.advance(7 * DAY)
    await gov.scan()
    result = gov.bot_comments()[-1]
    assert "failed" in result and "5 yes, 3 no, 2 abstaining" in result
    assert "less than two-thirds" in result
    await gov.comment(members[1], "/vote yes")
    assert "no nomination that is open" in gov.bot_comments()[-1]
    nominated = await gov.bot.services.governance.get(nomination)
    assert nominated is not None and nominated.state == "failed"


async def test_an_admin_records_the_councils_veto_within_the_window(
    start_bot: Any, fake_github: tuple[FakeGitHub, str]
) -> None:
    fake, _ = fake_github
    gov = await start_governance(start_bot, fake, SteppedClock())
    admins = gov.members("Admin")
    others = [m for m in gov.members() if m not in admins]
    nomination = await nominate(gov, others[0], "octo-newcomer")
    async with await signed_in(gov.bot.url, fake, others[1]) as session:
        await cast_ballot(session, gov.bot.url, nomination, "yes")
    await gov.comment(admins[0], "/veto too early")
    assert "no nomination that is veto_window" in gov.bot_comments()[-1]
    gov.clock.advance(7 * DAY + 1)
    await gov.scan()
    await gov.comment(others[2], "/veto I do not like it")
    assert "Denied" in gov.bot_comments()[-1] and "admins" in gov.bot_comments()[-1]
    # The note may end with who signed it: a login that is not the nominee.
    await gov.comment(admins[0], "/veto The council vetoed it by email, signed @gvanrossum")
    assert "is vetoed by the steering council" in gov.bot_comments()[-1]
    gov.clock.advance(7 * DAY)
    await gov.scan()
    assert not any("joins the" in body for body in gov.bot_comments())
    vetoed = await gov.bot.services.governance.get(nomination)
    assert vetoed is not None and vetoed.state == "vetoed"
    assert (await gov.audit(nomination))[-1].startswith(f"vetoed: @{admins[0]}")


async def test_the_close_survives_a_restart(
    start_bot: Any, fake_github: tuple[FakeGitHub, str]
) -> None:
    from bot.app import close_services

    fake, _ = fake_github
    clock = SteppedClock()
    gov = await start_governance(start_bot, fake, clock)
    members = gov.members()
    nomination = await nominate(gov, members[0], "octo-newcomer")
    for login in members[:3]:
        async with await signed_in(gov.bot.url, fake, login) as session:
            await cast_ballot(session, gov.bot.url, nomination, "yes")
    await close_services(gov.bot.services)

    clock.advance(8 * DAY)  # the week ended while the bot was down
    second = await start_governance(start_bot, fake, clock)
    second.issue = gov.issue
    await second.scan()
    results = [body for body in second.bot_comments() if "passed" in body]
    assert len(results) == 1 and "3 yes, 0 no, 0 abstaining" in results[0]


async def test_only_the_governance_repository_issue_comments_are_stored(
    start_bot: Any, fake_github: tuple[FakeGitHub, str]
) -> None:
    fake, _ = fake_github
    gov = await start_governance(start_bot, fake, SteppedClock())
    issue = fake.new_issue("python/cpython", "bug", "", "someone")
    comment = fake.add_issue_comment("python/cpython", issue["number"], "warsaw", "/nominate @x y")
    payload = fake.issue_comment_payload(
        "python/cpython", issue["number"], comment, gov.bot.installation_id
    )
    sent = await gov.bot.send("issue_comment", payload)
    assert sent.status == 204 and sent.headers["X-Bot-Outcome"] == "not the governance repository"
    assert fake.issue_comment_bodies(GOVERNANCE, gov.issue) == []


async def test_nominations_and_the_year_report_from_the_command_line(
    start_bot: Any, fake_github: tuple[FakeGitHub, str], bot_env: dict[str, str]
) -> None:
    import datetime

    from tests.harness import file_report, run_cli

    fake, _ = fake_github
    gov = await start_governance(start_bot, fake, SteppedClock())
    await nominate(gov, "warsaw", "octo-newcomer")
    await file_report(gov.bot, fake, "reporter-x")
    code, out, err = await run_cli(bot_env, "nominations")
    assert code == 0 and "@octo-newcomer\topen" in out, err
    code, out, err = await run_cli(bot_env, "nominations", "show", "1")
    assert code == 0 and "nominated: @warsaw nominated @octo-newcomer" in out, err
    code, _, err = await run_cli(bot_env, "nominations", "show", "99")
    assert code == 2 and "no nomination 99" in err
    year = datetime.datetime.now(datetime.UTC).year
    code, out, err = await run_cli(bot_env, "report", "year", str(year))
    assert code == 0, err
    assert "(advisories received)" in out and "| Received | 1 |" in out
    assert "| Published | 0 |" in out


async def test_a_nomination_in_a_new_issues_body_opens_a_vote(
    start_bot: Any, fake_github: tuple[FakeGitHub, str]
) -> None:
    fake, _ = fake_github
    gov = await start_governance(start_bot, fake, SteppedClock())
    issue = fake.new_issue(
        GOVERNANCE, "Nominate octo", "/nominate @octo-newcomer triages", "warsaw"
    )
    payload = load_payload("issues/opened.payload.json")
    payload.update(
        issue=issue,
        repository=fake.repos[GOVERNANCE],
        sender=issue["user"],
        installation={"id": gov.bot.installation_id, "node_id": "x"},
    )
    sent = await gov.bot.send("issues", payload)
    assert sent.status == 202
    await gov.bot.settle()
    [nomination] = await gov.bot.services.governance.nominations()
    assert nomination.nominee == "octo-newcomer" and nomination.issue_number == issue["number"]
    [reply] = fake.issue_comment_bodies(GOVERNANCE, issue["number"])
    assert "Nomination 1: @octo-newcomer, nominated by @warsaw" in reply


async def test_without_a_client_secret_sign_in_is_refused_and_logout_ends_a_session(
    start_bot: Any, fake_github: tuple[FakeGitHub, str]
) -> None:
    fake, _ = fake_github
    gov = await start_governance(start_bot, fake, SteppedClock())
    async with await signed_in(gov.bot.url, fake, gov.members()[0]) as session:
        async with session.get(f"{gov.bot.url}/vote/1", allow_redirects=False) as page:
            assert page.status == 404  # signed in: told there is no such nomination
        async with session.get(f"{gov.bot.url}/auth/logout") as page:
            assert page.status == 404  # "/" has no page; the redirect was followed
        async with session.get(f"{gov.bot.url}/vote/1", allow_redirects=False) as page:
            assert page.status == 302 and page.headers["Location"].startswith("/auth/login")
    from bot.app import close_services

    await close_services(gov.bot.services)  # one leader at a time on one database
    closed = await start_governance(start_bot, fake, SteppedClock(), GITHUB_CLIENT_SECRET="")
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{closed.bot.url}/auth/login") as page:
            assert page.status == 503 and "GITHUB_CLIENT_SECRET" in await page.text()
        async with session.get(f"{closed.bot.url}/vote/1") as page:
            assert page.status == 503


async def comments_mode(
    start_bot: Any, fake: FakeGitHub, bot_env: dict[str, str]
) -> Governance:
    config = bot_env["BOT_CONFIG"] + "/bot.toml"
    with open(config, encoding="utf-8") as handle:
        text = handle.read().replace('votes = "ballot"', 'votes = "comments"')
    with open(config, "w", encoding="utf-8") as handle:
        handle.write(text)
    return await start_governance(start_bot, fake, SteppedClock())


async def edited(
    gov: Governance, comment: dict[str, Any], body: str, editor: str
) -> None:
    """GitHub's `issue_comment.edited`: the body changed (`changes.body.from` holds the
    text before), `sender` is who changed it."""
    before = comment["body"]
    comment["body"] = body
    payload = gov.fake.issue_comment_payload(
        GOVERNANCE, gov.issue, comment, gov.bot.installation_id
    )
    payload["action"] = "edited"
    payload["changes"] = {"body": {"from": before}}
    payload["sender"] = gov.fake._user(editor)
    sent = await gov.bot.send("issue_comment", payload)
    assert sent.status == 202, sent.body
    await gov.bot.settle()


async def a_members_comment_on_a_vote(
    start_bot: Any, fake_github: tuple[FakeGitHub, str], bot_env: dict[str, str], text: str
) -> tuple[Governance, list[str], list[str], int, dict[str, Any]]:
    """Votes in comments; a member nominates octo-newcomer and another member comments
    `text`. Returns the governance, its admins, the other members, the nomination
    and the comment."""
    fake, _ = fake_github
    gov = await comments_mode(start_bot, fake, bot_env)
    admins = gov.members("Admin")
    others = [m for m in gov.members() if m not in admins]
    nomination = await nominate(gov, others[0], "octo-newcomer")
    return gov, admins, others, nomination, await gov.comment(others[1], text)


async def test_an_edit_by_anyone_but_the_author_runs_nothing_and_says_so(
    start_bot: Any, fake_github: tuple[FakeGitHub, str], bot_env: dict[str, str]
) -> None:
    gov, admins, others, nomination, comment = await a_members_comment_on_a_vote(
        start_bot, fake_github, bot_env, "I am still thinking."
    )
    # An admin (who may edit anyone's comment) puts a vote in a member's mouth, twice.
    for body in ("/vote yes", "/vote yes\n/vote no @octo-newcomer"):
        await edited(gov, comment, body, admins[0])
    notices = [b for b in gov.bot_comments() if "ran nothing new from them" in b]
    # One notice for each edit that added command lines.
    assert len(notices) == 2
    assert all(f"@{admins[0]} changed @{others[1]}'s words" in notice for notice in notices)
    audit = await gov.audit(nomination)
    assert not any(line.startswith("vote") for line in audit)
    # The author edits the comment again: the admin's lines still do not run as the author.
    inserted = "/vote yes\n/vote no @octo-newcomer"
    replies = len(gov.bot_comments())
    await edited(gov, comment, inserted + "\nStill thinking.", others[1])
    assert len(gov.bot_comments()) == replies
    assert not any(line.startswith("vote") for line in await gov.audit(nomination))
    # The author's own edit runs what it adds, as the author.
    await edited(gov, comment, inserted + "\n/vote abstain", others[1])
    assert f"@{others[1]} voted abstain" in gov.bot_comments()[-1]


async def test_an_authors_edit_does_not_run_a_line_from_an_edit_the_bot_never_saw(
    start_bot: Any, fake_github: tuple[FakeGitHub, str], bot_env: dict[str, str]
) -> None:
    gov, _admins, others, nomination, comment = await a_members_comment_on_a_vote(
        start_bot, fake_github, bot_env, "thinking"
    )
    # An admin puts a vote in the member's comment; that webhook never reaches the bot.
    comment["body"] = "/vote yes\nthinking"
    replies = len(gov.bot_comments())
    # The member fixes a typo: GitHub's `changes.body.from` already holds the vote.
    await edited(gov, comment, "/vote yes\nthinking.", others[1])
    assert len(gov.bot_comments()) == replies
    assert not any(line.startswith("vote") for line in await gov.audit(nomination))


async def test_an_authors_edit_never_runs_a_command_again(
    start_bot: Any, fake_github: tuple[FakeGitHub, str], bot_env: dict[str, str]
) -> None:
    fake, _ = fake_github
    gov = await comments_mode(start_bot, fake, bot_env)
    members = gov.members()
    nomination = await nominate(gov, members[0], "octo-newcomer")
    comment = await gov.comment(members[1], "/vote yes")
    # An edit that inserts a line above shifts every position: the vote is still the
    # first `/vote yes` of the comment, so it does not run (or count) again.
    await edited(gov, comment, "For the record:\n/vote yes", members[1])
    await edited(gov, comment, "/help\nFor the record:\n/vote yes", members[1])
    audit = await gov.audit(nomination)
    assert sum(line.startswith("vote") for line in audit) == 1
    assert "**Commands**" in gov.bot_comments()[-1]  # the /help the last edit added
