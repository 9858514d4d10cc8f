"""Slash commands end to end: comments on the fake, the poller, the reply."""

from __future__ import annotations

from handlers import COMMANDS
from tests.conftest import StartBot
from tests.fakegithub import FakeGitHub
from tests.governance_helpers import start_governance
from tests.harness import SteppedClock, World, file_report
from tests.scenarios import commented, replies


async def test_three_commands_three_effects_one_reply_and_an_edit_runs_nothing(
    world: World,
) -> None:
    advisory = await file_report(world.bot, world.fake, "quinn")
    comment = await commented(
        world,
        advisory,
        "gpshead",
        "Looks real.\n/accept\n/credit @alice remediation_developer\n/invite @ethanfurman.",
    )
    assert advisory["state"] == "draft"
    assert {"user": "alice", "type": "remediation_developer"} in [
        {"user": c["user"]["login"], "type": c["type"]} for c in advisory["credits_detailed"]
    ]
    assert "ethanfurman" in [u["login"] for u in advisory["collaborating_users"]]
    [reply] = replies(world, advisory)
    body = reply["body"]
    assert "> /accept" in body and "> /credit @alice remediation_developer" in body
    assert "Accepted" in body and "Credited @alice" in body and "Invited @ethanfurman" in body
    patches_before = len(world.fake.mutations())

    # The same comment seen again (a second poll, a redelivery): nothing runs twice.
    await world.bot.services.poller.poll_comments()
    await world.bot.settle()
    assert len(world.fake.mutations()) == patches_before

    # An edit runs nothing (GitHub does not say who edited), and the bot says so once.
    for n in range(2):
        comment["body"] += "\n/assign @gpshead"
        comment["updated_at"] = f"2099-01-0{n + 1}T00:00:00Z"
        await world.bot.services.poller.poll_comments()
        await world.bot.settle()
    assert len([r for r in world.fake.mutations() if "/comments" not in r.path]) == len(
        [r for r in world.fake.mutations()[:patches_before] if "/comments" not in r.path]
    )
    record = await world.bot.services.advisories.get("python/cpython", advisory["ghsa_id"])
    assert record is not None and record.coordinator is None
    notices = [
        c["body"]
        for c in world.fake.comments[("python/cpython", advisory["ghsa_id"])]
        if "this comment was edited, so the bot ran nothing" in c["body"]
    ]
    assert len(notices) == 1 and "@gpshead" in notices[0]


async def test_an_outsiders_command_is_refused_with_the_reason(world: World) -> None:
    advisory = await file_report(world.bot, world.fake, "rita")
    await commented(world, advisory, "mallory", "/accept")
    assert advisory["state"] == "triage"
    [reply] = replies(world, advisory)
    assert (
        "Denied: @mallory may not use `/accept`; it is for team members, admins, the coordinator"
        in reply["body"]
    )


async def test_the_reporter_may_ask_for_status_but_not_accept(world: World) -> None:
    advisory = await file_report(world.bot, world.fake, "sam")
    await commented(world, advisory, "sam", "/status\n/accept")
    [reply] = replies(world, advisory)
    assert (
        "**State:** triage" in reply["body"] and "**Missing before publication:**" in reply["body"]
    )
    assert "Denied: @sam may not use `/accept`" in reply["body"]


async def test_a_failed_membership_check_denies_and_says_so(world: World) -> None:
    advisory = await file_report(world.bot, world.fake, "tara")
    world.fake.inject(
        "/memberships/newcomer$",
        status=403,
        body={"message": "Resource not accessible by integration"},
    )
    await commented(world, advisory, "newcomer", "/accept")
    assert advisory["state"] == "triage"
    [reply] = replies(world, advisory)
    assert "could not check whether @newcomer may use `/accept`" in reply["body"]


async def test_a_team_member_outside_the_roster_is_found_through_the_team_api(world: World) -> None:
    advisory = await file_report(world.bot, world.fake, "uma")
    world.fake.team_members[("python", "psrt")]["newmember"] = "active"
    await commented(world, advisory, "newmember", "/accept")
    assert advisory["state"] == "draft"


async def test_unknown_commands_get_a_suggestion_or_silence(world: World) -> None:
    advisory = await file_report(world.bot, world.fake, "vic")
    await commented(world, advisory, "gpshead", "/acept")
    [reply] = replies(world, advisory)
    assert "Unknown command `/acept`. Did you mean `/accept`? See `/help`." in reply["body"]
    other = await file_report(world.bot, world.fake, "wes")
    await commented(world, other, "mallory", "/acept")
    assert replies(world, other) == []  # a stranger's typo gets silence


async def test_help_lists_every_registered_command(world: World) -> None:
    advisory = await file_report(world.bot, world.fake, "xia")
    await commented(world, advisory, "xia", "/help")
    [reply] = replies(world, advisory)
    for name, declared in COMMANDS.commands.items():
        listed = f"`/{name}" in reply["body"]
        assert listed == ("advisory" in declared.venues), name  # governance ones are elsewhere
    assert "confidential comments" in reply["body"]


async def test_bad_arguments_get_the_usage_and_other_commands_still_run(world: World) -> None:
    advisory = await file_report(world.bot, world.fake, "yan")
    await commented(
        world, advisory, "gpshead", "/credit @alice wizard\n/assign @nobody-here\n/accept"
    )
    [reply] = replies(world, advisory)
    assert "'wizard' is not a credit type" in reply["body"]
    assert "@nobody-here is not a team member" in reply["body"] and "the target" in reply["body"]
    assert advisory["state"] == "draft"


async def test_the_bots_own_comments_and_quoted_commands_never_run(world: World) -> None:
    advisory = await file_report(world.bot, world.fake, "zed")
    await commented(world, advisory, "ghsa-bot-test[bot]", "/accept")
    await commented(world, advisory, "gpshead", "> /accept\n\n`/accept`")
    assert advisory["state"] == "triage"
    assert replies(world, advisory) == []


async def test_severity_cvss_and_cwe(world: World) -> None:
    advisory = await file_report(world.bot, world.fake, "abe")
    vector = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"
    await commented(
        world,
        advisory,
        "gpshead",
        f"/severity high\n/cvss {vector}\n/cvss CVSS:3.1/AV:X\n/cwe CWE-22 cwe-59\n/severity low",
    )
    [reply] = replies(world, advisory)
    assert advisory["cvss"]["vector_string"] == vector and advisory["cwe_ids"] == [
        "CWE-22",
        "CWE-59",
    ]
    assert "Severity set to high." in reply["body"]
    assert 'not a valid CVSS 3.1 vector: Unknown value "X" in field "AV:X"' in reply["body"]
    assert "GitHub refuses a severity while a CVSS vector is set" in reply["body"]


async def test_handoff_keeps_the_earlier_credit(world: World) -> None:
    advisory = await file_report(world.bot, world.fake, "bea")
    await commented(world, advisory, "gpshead", "/coordinate")
    await commented(world, advisory, "gpshead", '/handoff @sethmlarson "on leave"')
    coordinators = [
        c["user"]["login"] for c in advisory["credits_detailed"] if c["type"] == "coordinator"
    ]
    assert coordinators == ["gpshead", "sethmlarson"]
    record = await world.bot.services.advisories.get("python/cpython", advisory["ghsa_id"])
    assert record is not None and record.coordinator == "sethmlarson"
    reply = replies(world, advisory)[-1]["body"]
    assert "was @gpshead, whose credit stays" in reply and "Reason: on leave" in reply


async def test_leave_is_written_where_the_reporter_does_not_read_it(
    start_bot: StartBot, fake_github: tuple[FakeGitHub, str]
) -> None:
    """`/leave` and `/back` belong to the governance repository: on an advisory the
    reporter would read about the team's availability, so there they only say where."""
    from bot.advisories.coordinators import with_leave

    fake, _ = fake_github
    gov = await start_governance(start_bot, fake, SteppedClock())
    world = World(gov.bot, fake, gov.clock)
    advisory = await file_report(world.bot, world.fake, "cal")
    await commented(world, advisory, "gpshead", "/leave until 2099-01-01")
    [reply] = replies(world, advisory)
    assert "is not written here" in reply["body"] and "governance repository" in reply["body"]
    answer = reply["body"].split("> /leave until 2099-01-01", 1)[1]
    assert "2099" not in answer and "on leave" not in answer
    assert await world.bot.services.member_leave.leaves() == {}

    await gov.comment("gpshead", "/leave until 2099-01-01")
    leaves = await world.bot.services.member_leave.leaves()
    assert leaves == {"gpshead": "2099-01-01"}
    notes = with_leave(world.bot.services.config.coordinators.roster, leaves)
    assert notes.members["gpshead"].on_leave_until == "2099-01-01"
    await gov.comment("gpshead", "/back")
    assert await world.bot.services.member_leave.leaves() == {}


async def test_experts_and_ping(world: World) -> None:
    advisory = await file_report(world.bot, world.fake, "dee")
    await commented(world, advisory, "gpshead", "/experts\n/ping zipfile\n/ping nosuchmodule")
    [reply] = replies(world, advisory)
    assert "ethanfurman" in reply["body"]  # the report is about tarfile
    assert "@serhiy-storchaka" in reply["body"] and "knowledge of `zipfile`" in reply["body"]
    assert "no experts are listed for 'nosuchmodule'" in reply["body"]


async def test_reject_answers_the_reporter_from_the_teams_template(world: World) -> None:
    advisory = await file_report(world.bot, world.fake, "eli")
    await commented(world, advisory, "gpshead", '/reject bug "Debug builds only."')
    assert advisory["state"] == "closed"
    [reply] = replies(world, advisory)
    assert (
        "Closed (bug). @eli: thank you for reporting this. It is a bug, but not a security"
        in reply["body"]
    )
    assert "Please open a public issue" in reply["body"] and "Debug builds only." in reply["body"]


async def test_fork_is_requested_and_announced_when_it_exists(world: World) -> None:
    world.fake.fork_delay = 3600  # GitHub makes it asynchronously
    advisory = await file_report(world.bot, world.fake, "fay")
    await commented(world, advisory, "gpshead", "/fork")
    [reply] = replies(world, advisory)
    fork_name = f"python/cpython-{advisory['ghsa_id'].lower()}"
    assert f"Requested the temporary private fork `{fork_name}`" in reply["body"]
    await world.bot.services.poller.poll_once()
    await world.bot.settle()
    assert not any(
        "fork exists" in c["body"]
        for c in world.fake.comments[("python/cpython", advisory["ghsa_id"])]
    )
    world.fake.fork_delay = 0
    world.fake.pending_forks = [(0.0, a, f) for _, a, f in world.fake.pending_forks]
    await world.bot.services.poller.poll_once()
    await world.bot.settle()
    await world.bot.services.poller.poll_once()
    await world.bot.settle()
    announced = [
        c
        for c in world.fake.comments[("python/cpython", advisory["ghsa_id"])]
        if "fork exists" in c["body"]
    ]
    assert len(announced) == 1 and fork_name in announced[0]["body"]
