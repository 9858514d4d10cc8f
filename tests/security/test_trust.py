"""The reporter is not the team: each attack of the trust review, tried end to end.

GitHub makes the reporter of a private report a collaborator with write access
to their advisory: they may edit its title, credits, CVE field and any comment
on it, and GitHub never says who made an edit. Each test here is an attempt
that worked before; SECURITY.md's table points at them.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from bot.commands.dispatch import REPLIES_PER_WINDOW
from bot.records.documents import RecordError, write_record
from tests.conftest import StartBot
from tests.fakecve import FakeCveServices
from tests.fakegithub import FakeGitHub
from tests.harness import (
    REPORT,
    SteppedClock,
    World,
    file_report,
    reported_payload,
    run_cli,
    world_with,
)
from tests.scenarios import commented, configure, last_reply, replies

DAY = 86400.0


def unsafe(bot_env: dict[str, str], option: str) -> None:
    """Turn on one `[unsafe]` option in the bot's configuration."""
    configure(bot_env, lambda text: text + f"\n[unsafe]\n{option} = true\n")


def bodies(world: World, advisory: dict[str, Any]) -> list[str]:
    return [str(c["body"]) for c in world.fake.comments[("python/cpython", advisory["ghsa_id"])]]


def edit_on_github(advisory: dict[str, Any], stamp: str, **fields: Any) -> None:
    """What a collaborator's edit on github.com does: fields change, `updated_at` moves."""
    advisory.update(fields)
    advisory["updated_at"] = stamp


# -- credits: a coordinator is only ever a member ------------------------------------------


async def test_a_reporter_crediting_themselves_as_coordinator_gains_nothing(world: World) -> None:
    bot, fake, clock = world.bot, world.fake, world.clock
    advisory = await file_report(bot, fake, "rex")
    advisory["credits_detailed"].append(
        {"user": fake._user("rex"), "type": "coordinator", "state": "accepted"}
    )
    record = await bot.services.advisories.get("python/cpython", advisory["ghsa_id"])
    assert record is not None
    clock.current = record.received_at + 3 * DAY + 60
    await bot.services.deadlines.scan_once()
    await bot.settle()
    record = await bot.services.advisories.get("python/cpython", advisory["ghsa_id"])
    assert record is not None and record.coordinator not in (None, "rex")
    roster = {e.login for e in bot.services.team_data.roster()}
    assert record.coordinator in roster
    [ignored] = [b for b in bodies(world, advisory) if "not treat them as the coordinator" in b]
    assert ignored.startswith("<!-- ghsa-bot:coordinator-credit-ignored -->\n@rex: credited")
    # Nothing the coordinator could do is open to rex.
    await commented(world, advisory, "rex", "/accept\n/invite @mallory\n/credit @mallory analyst")
    reply = replies(world, advisory)[-1]["body"]
    assert reply.count("Denied: @rex may not use") == 3
    assert advisory["state"] == "triage"
    assert "mallory" not in [u["login"] for u in advisory["collaborating_users"]]
    # And the publication checklist does not count rex's credit.



async def test_the_checklist_does_not_count_a_strangers_coordinator_credit(world: World) -> None:
    advisory = await file_report(world.bot, world.fake, "rex")
    advisory["credits_detailed"].append(
        {"user": world.fake._user("rex"), "type": "coordinator", "state": "accepted"}
    )
    await commented(world, advisory, "rex", "/status")
    status = replies(world, advisory)[-1]["body"]
    assert "no coordinator: `/coordinate`" in status  # @rex's credit counts for nothing
    # ...and a credit for a member (had the reporter guessed one) reads the same: /status
    # is no oracle of who is on the team.
    advisory["credits_detailed"].append(
        {"user": world.fake._user("gpshead"), "type": "coordinator", "state": "accepted"}
    )
    await commented(world, advisory, "rex", "/status")
    assert "no coordinator: `/coordinate`" in replies(world, advisory)[-1]["body"]


async def test_the_unsafe_option_lets_a_credit_name_the_coordinator(
    start_bot: StartBot, fake_github: tuple[FakeGitHub, str], bot_env: dict[str, str]
) -> None:
    unsafe(bot_env, "collaborators_name_the_coordinator_with_credits")
    world = await world_with(start_bot, fake_github)
    advisory = await file_report(world.bot, world.fake, "rex")
    advisory["credits_detailed"].append(
        {"user": world.fake._user("rex"), "type": "coordinator", "state": "accepted"}
    )
    world.clock.advance(3 * DAY + 60)
    await world.bot.services.deadlines.scan_once()
    await world.bot.settle()
    record = await world.bot.services.advisories.get("python/cpython", advisory["ghsa_id"])
    assert record is not None and record.coordinator == "rex"


# -- comments: only a comment's first version runs ------------------------------------------


async def test_a_comment_first_seen_already_edited_runs_nothing(world: World) -> None:
    """The reporter edits a team member's comment before the poller reads it."""
    advisory = await file_report(world.bot, world.fake, "eda")
    comment = world.fake.add_advisory_comment(
        "python/cpython", advisory["ghsa_id"], "gpshead", "Thanks, looking.\n/accept"
    )
    comment["updated_at"] = "2099-01-01T00:00:00Z"  # created earlier, edited since
    await world.bot.services.poller.poll_comments()
    await world.bot.settle()
    assert advisory["state"] == "triage"
    notices = [b for b in bodies(world, advisory) if "so the bot ran nothing in it" in b]
    assert len(notices) == 1


async def test_an_edited_strangers_comment_gets_silence(world: World) -> None:
    advisory = await file_report(world.bot, world.fake, "eli")
    comment = world.fake.add_advisory_comment(
        "python/cpython", advisory["ghsa_id"], "mallory", "/accept"
    )
    comment["updated_at"] = "2099-01-01T00:00:00Z"
    await world.bot.services.poller.poll_comments()
    await world.bot.settle()
    assert bodies(world, advisory)[-1] != comment["body"] or len(replies(world, advisory)) == 0
    assert not any("ran nothing" in b for b in bodies(world, advisory))


async def test_the_unsafe_option_runs_what_an_edit_adds(
    start_bot: StartBot, fake_github: tuple[FakeGitHub, str], bot_env: dict[str, str]
) -> None:
    unsafe(bot_env, "comment_editors_run_commands_as_the_author")
    world = await world_with(start_bot, fake_github)
    advisory = await file_report(world.bot, world.fake, "una")
    comment = await commented(world, advisory, "gpshead", "/status")
    comment["body"] += "\n/accept"
    comment["updated_at"] = "2099-01-01T00:00:00Z"
    await world.bot.services.poller.poll_comments()
    await world.bot.settle()
    assert advisory["state"] == "draft"
    assert len(replies(world, advisory)) == 2  # one per version; /status did not run again


# -- CVE IDs are bound to the advisory they were got for ---------------------------------


async def test_a_copied_cve_id_never_reaches_the_other_advisory(
    start_bot: StartBot,
    fake_github: tuple[FakeGitHub, str],
    fake_cve: tuple[FakeCveServices, dict[str, str]],
    bot_env: dict[str, str],
) -> None:
    cna, env = fake_cve
    configure(bot_env, lambda t: t.replace("publish_record = false", "publish_record = true"))
    world = await world_with(start_bot, fake_github, **env)
    theirs = await file_report(world.bot, world.fake, "ada")
    await commented(world, theirs, "gpshead", "/accept")
    cve_id = theirs["cve_id"]
    assert cve_id and cna.ids[cve_id].state == "RESERVED"

    ours = await file_report(world.bot, world.fake, "mallory")
    await commented(world, ours, "gpshead", "/accept")  # reserves one of its own...
    own = ours["cve_id"]
    edit_on_github(ours, "2099-01-01T00:00:00Z", cve_id=cve_id)  # ...the reporter copies
    await commented(world, ours, "gpshead", "/cve reject")
    reply = last_reply(world, ours)
    # The reporter reads this: it must not confirm that another report holds the ID.
    assert "did not get it for this advisory" in reply and "another advisory" not in reply
    assert cna.ids[cve_id].state == "RESERVED"  # the other advisory's reservation stands
    assert theirs["cve_id"] == cve_id and ours["cve_id"] is None
    assert cna.ids[own].state == "RESERVED"

    # The checklist does not count a copied ID...
    edit_on_github(ours, "2099-01-02T00:00:00Z", cve_id=cve_id)
    await commented(world, ours, "gpshead", "/status")
    assert f"{cve_id} was not got for this advisory" in last_reply(world, ours)
    # ...and publication (an admin on github.com) publishes no record for it.
    edit_on_github(
        ours, "2099-01-03T00:00:00Z", state="published", published_at="2099-01-03T00:00:00Z"
    )
    await world.bot.services.poller.poll_once()
    await world.bot.settle()
    assert cna.ids[cve_id].container is None and cna.ids[cve_id].state == "RESERVED"
    assert any("No CVE record was written or published" in b for b in bodies(world, ours))


async def test_an_id_typed_after_a_rejection_is_never_taken_as_githubs(
    start_bot: StartBot, fake_github: tuple[FakeGitHub, str], bot_env: dict[str, str]
) -> None:
    """Provider github: one request, one answer. After `/cve reject`, whatever the reporter
    types into the CVE field is not GitHub's answer to anything."""
    configure(bot_env, lambda t: t.replace('provider = "cve-services"', 'provider = "github"'))
    world = await world_with(start_bot, fake_github)
    advisory = await file_report(world.bot, world.fake, "gia")
    await commented(world, advisory, "gpshead", "/cve")
    assigned = advisory["cve_id"]
    assert assigned and "Requested a CVE ID from GitHub" in last_reply(world, advisory)
    await commented(world, advisory, "gpshead", "/cve reject")
    assert advisory["cve_id"] is None
    edit_on_github(advisory, "2099-01-01T00:00:00Z", cve_id="CVE-2021-44228")
    await world.bot.services.poller.poll_once()
    await world.bot.settle()
    await commented(world, advisory, "gpshead", "/status")
    assert "CVE-2021-44228 was not got for this advisory" in last_reply(world, advisory)
    assert await world.bot.services.cve_bindings.reservation_of("CVE-2021-44228") is None


async def test_a_team_member_records_an_id_got_elsewhere(
    cna_world: tuple[World, FakeCveServices],
) -> None:
    world, _ = cna_world
    advisory = await file_report(world.bot, world.fake, "ivo")
    await commented(world, advisory, "gpshead", "/cve CVE-2026-40404")
    assert advisory["cve_id"] == "CVE-2026-40404"
    assert "Recorded CVE-2026-40404" in last_reply(world, advisory)
    other = await file_report(world.bot, world.fake, "jan")
    await commented(world, other, "gpshead", "/cve CVE-2026-40404")
    assert "cannot be recorded for this advisory" in last_reply(world, other)
    assert "another advisory" not in last_reply(world, other)
    assert other["cve_id"] is None
    log = await world.bot.services.advisories.audit_log("python/cpython", other["ghsa_id"])
    assert any("bound to another advisory" in e.reason for e in log)


# -- roles come only from the roster and the team ------------------------------------------


def non_canonical(bot_env: dict[str, str], *, published_list_grants_roles: bool = False) -> None:
    roster = Path(bot_env["BOT_CONFIG"]) / "roster.toml"
    roster.write_text(roster.read_text().replace("canonical = true", "canonical = false"))
    if published_list_grants_roles:
        unsafe(bot_env, "published_list_grants_roles")


async def start_with_a_forged_line(
    start_bot: StartBot, fake_github: tuple[FakeGitHub, str], fixtures: Path
) -> World:
    """psrt.csv on the fake with one line added by someone who can push to it."""
    fake, _ = fake_github
    csv = (fixtures / "cpython" / "psrt.csv").read_text(encoding="utf-8")
    logins = [line.split(",")[1] for line in csv.splitlines()[1:] if line.count(",") >= 1]
    fake.team_members[("python", "psrt")] = {login: "active" for login in logins if login}
    csv += "Mallory Forged,mallory,Admin\n"
    fake.set_content("python/devguide", "security/psrt.csv", csv.encode())
    clock = SteppedClock()
    bot = await start_bot(clock=clock)
    await bot.started()
    return World(bot, fake, clock)


async def test_a_line_added_to_the_published_list_makes_nobody_a_member(
    start_bot: StartBot,
    fake_github: tuple[FakeGitHub, str],
    bot_env: dict[str, str],
    fixtures: Path,
) -> None:
    non_canonical(bot_env)
    world = await start_with_a_forged_line(start_bot, fake_github, fixtures)
    roster = {e.login for e in world.bot.services.team_data.roster()}
    assert "mallory" not in roster and "gpshead" in roster  # the team confirms the rest
    advisory = await file_report(world.bot, world.fake, "victim")
    assert "mallory" not in [u["login"] for u in advisory["collaborating_users"]]
    await commented(world, advisory, "mallory", "/accept\n/invite @mallory")
    assert advisory["state"] == "triage"
    assert replies(world, advisory)[-1]["body"].count("Denied: @mallory") == 2


async def test_the_unsafe_option_lets_the_published_list_grant_roles(
    start_bot: StartBot,
    fake_github: tuple[FakeGitHub, str],
    bot_env: dict[str, str],
    fixtures: Path,
) -> None:
    non_canonical(bot_env, published_list_grants_roles=True)
    world = await start_with_a_forged_line(start_bot, fake_github, fixtures)
    advisory = await file_report(world.bot, world.fake, "victim")
    assert "mallory" in [u["login"] for u in advisory["collaborating_users"]]


async def test_auto_invited_experts_must_be_members(
    start_bot: StartBot, fake_github: tuple[FakeGitHub, str], bot_env: dict[str, str]
) -> None:
    configure(
        bot_env,
        lambda t: t.replace(
            'acknowledgement_template = "templates/acknowledgement.md"',
            'acknowledgement_template = "templates/acknowledgement.md"\nauto_invite_experts = true',
        ),
    )
    world = await world_with(start_bot, fake_github)
    advisory = await file_report(world.bot, world.fake, "zoe")  # about tarfile
    [suggestion] = [b for b in bodies(world, advisory) if "ethanfurman" in b]
    members = {e.login.lower() for e in world.bot.services.team_data.roster()}
    assert "ethanfurman" not in members  # an expert from experts.rst, not on the team
    invited = {u["login"].lower() for u in advisory["collaborating_users"]}
    assert "ethanfurman" not in invited
    assert suggestion  # still suggested, for a coordinator to /invite


# -- bounded replies ---------------------------------------------------------------------------


async def test_a_report_naming_everything_still_gets_its_experts_comment(world: World) -> None:
    """The experts comment is built from the reporter's text: it stays within GitHub's limit
    (a 300,000-character one was refused on every retry, parking the report)."""
    areas = world.bot.services.team_data.get("experts")
    names = " ".join(f"`{area.name}`" for area in areas if " " not in area.name)
    paths = " ".join(f"Lib/asyncio/m{n}.py" for n in range(3000))
    advisory = world.fake.new_advisory(
        "python/cpython", summary="everything", description=f"{names}\n{paths}", reporter="ned"
    )
    await world.bot.send("repository_advisory", reported_payload(world.bot, advisory, "ned"))
    await world.bot.settle()
    [experts] = [b for b in bodies(world, advisory) if b.startswith("<!-- ghsa-bot:experts")]
    assert len(experts) <= 65_536 and " more" in experts
    counts = await world.bot.services.store.counts_by_state()
    assert counts.get("failed", 0) == 0


async def test_a_status_with_300_credits_fits_in_one_comment(world: World) -> None:
    advisory = await file_report(world.bot, world.fake, "kai")
    advisory["credits_detailed"] += [
        {"user": world.fake._user(f"person-{n}"), "type": "other", "state": "pending"}
        for n in range(300)
    ]
    await commented(world, advisory, "kai", "/status")
    [reply] = replies(world, advisory)
    assert len(reply["body"]) <= 65_536 and "and 251 more" in reply["body"]


async def test_a_reply_to_commands_near_githubs_limit_is_shortened_not_lost(world: World) -> None:
    advisory = await file_report(world.bot, world.fake, "lou")
    body = "\n".join(f"/cwe CWE-{n} {'x' * 3200}" for n in range(1, 21))
    assert len(body) < 65_536  # a comment GitHub accepts
    await commented(world, advisory, "gpshead", body)
    [reply] = replies(world, advisory)
    assert len(reply["body"]) <= 65_536 and reply["body"].count("> /cwe CWE-") == 20


async def test_a_flood_of_status_comments_gets_a_bounded_number_of_replies(world: World) -> None:
    advisory = await file_report(world.bot, world.fake, "flo")
    for _ in range(REPLIES_PER_WINDOW + 5):
        world.fake.add_advisory_comment("python/cpython", advisory["ghsa_id"], "flo", "/status")
    await world.bot.services.poller.poll_comments()
    await world.bot.settle()
    assert len(replies(world, advisory)) == REPLIES_PER_WINDOW
    [paused] = [b for b in bodies(world, advisory) if "replies to you here are paused" in b]
    assert "@flo" in paused
    world.clock.advance(601)
    await commented(world, advisory, "flo", "/status")
    assert len(replies(world, advisory)) == REPLIES_PER_WINDOW + 1


async def test_edit_notices_are_bounded_and_spend_nobodys_own_budget(world: World) -> None:
    """A reporter edits many of a member's comments: the notices stop at the budget, and
    the member's own next command still gets its reply."""
    advisory = await file_report(world.bot, world.fake, "eve")
    for n in range(REPLIES_PER_WINDOW + 5):
        comment = world.fake.add_advisory_comment(
            "python/cpython", advisory["ghsa_id"], "gpshead", "/status"
        )
        comment["created_at"] = f"2000-01-01T00:00:{n:02d}Z"  # seen already edited
    await world.bot.services.poller.poll_comments()
    await world.bot.settle()
    notices = [b for b in bodies(world, advisory) if "so the bot ran nothing in it" in b]
    assert len(notices) == REPLIES_PER_WINDOW
    assert not any("replies to you here are paused" in b for b in bodies(world, advisory))
    await commented(world, advisory, "gpshead", "/accept")
    assert advisory["state"] == "draft" and "Accepted" in replies(world, advisory)[-1]["body"]


async def test_strangers_get_silence_however_many_unknown_commands(world: World) -> None:
    advisory = await file_report(world.bot, world.fake, "sid")
    await commented(world, advisory, "mallory", "\n".join(f"/nope{n}" for n in range(30)))
    assert replies(world, advisory) == []


@pytest.mark.parametrize(
    "fault",
    [
        {"status": 502},
        {"drop": True},
        {"drop_after": True},  # GitHub made the comment; the answer was lost
    ],
    ids=["5xx", "dropped", "made-but-answer-lost"],
)
async def test_a_reply_whose_post_failed_is_posted_on_the_retry_once(
    world: World, fault: dict[str, Any]
) -> None:
    advisory = await file_report(world.bot, world.fake, "ron")
    world.fake.inject(rf"{advisory['ghsa_id']}/comments$", method="POST", **fault)
    world.fake.add_advisory_comment("python/cpython", advisory["ghsa_id"], "gpshead", "/accept")
    await world.bot.services.poller.poll_comments()
    for _ in range(20):  # the worker retries with backoff on the bot's (stepped) clock
        counts = await world.bot.services.store.counts_by_state()
        if not any(counts.get(state) for state in ("queued", "waiting", "running")):
            break
        world.clock.advance(60)
        world.bot.services.worker.notify()
        await asyncio.sleep(0.1)
    await world.bot.settle()
    assert advisory["state"] == "draft"
    [reply] = replies(world, advisory)
    assert "Accepted" in reply["body"]


# -- commands keep their promises ---------------------------------------------------------------


async def test_a_handoff_then_invite_keeps_what_the_handoff_gave(world: World) -> None:
    advisory = await file_report(world.bot, world.fake, "hal")
    await commented(world, advisory, "gpshead", "/coordinate")
    await commented(world, advisory, "gpshead", "/handoff @sethmlarson\n/invite @ethanfurman")
    users = [u["login"] for u in advisory["collaborating_users"]]
    assert "sethmlarson" in users and "ethanfurman" in users
    coordinators = [
        c["user"]["login"] for c in advisory["credits_detailed"] if c["type"] == "coordinator"
    ]
    assert coordinators == ["gpshead", "sethmlarson"]


@pytest.mark.parametrize(
    "word",
    [
        "https://evil.example/python/cpython/pull/1",
        "{web}/python/cpython/pull/1?x=1",
        "{other_scheme}/python/cpython/pull/1",
        "python/cpython#99999999999",
        "-bad/cpython#1",
        "python/..#1",
        "python/cpython#0",
    ],
)
async def test_fix_takes_only_pull_requests_on_the_configured_host(
    world: World, word: str
) -> None:
    web = world.bot.services.settings.web_url
    other = web.replace("http://", "https://", 1) if web.startswith("http://") else web.replace(
        "https://", "http://", 1
    )
    word = word.format(web=web, other_scheme=other)
    advisory = await file_report(world.bot, world.fake, "fio")
    await commented(world, advisory, "gpshead", f"/fix {word}\n/fix python/cpython#12")
    reply = replies(world, advisory)[-1]["body"]
    assert "is not a pull request on" in reply and "Linked python/cpython#12" in reply
    fixes = await world.bot.services.fix_links.fixes("python/cpython", advisory["ghsa_id"])
    assert fixes == [("python/cpython", 12, None)]


# -- what the reporter reads is for the reporter --------------------------------------------------


async def test_duplicate_tells_the_reporter_nothing_of_the_other_advisory(world: World) -> None:
    advisory = await file_report(world.bot, world.fake, "dua")
    await commented(world, advisory, "gpshead", "/duplicate GHSA-2222-3333-4444")
    reply = replies(world, advisory)[-1]["body"]
    answer = reply.split("> /duplicate GHSA-2222-3333-4444", 1)[1]
    assert "GHSA-" not in answer and "duplicates one the team is already handling" in answer
    assert advisory["state"] == "closed"
    log = await world.bot.services.advisories.audit_log("python/cpython", advisory["ghsa_id"])
    assert any("GHSA-2222-3333-4444" in e.reason for e in log if e.action == "duplicate")


async def test_the_audit_log_keeps_identifiers_never_free_text(world: World) -> None:
    advisory = await file_report(world.bot, world.fake, "aud")
    await commented(
        world,
        advisory,
        "gpshead",
        '/credit @alice remediation_developer\n/ping tarfile\n/reject bug "SECRET-NOTE-8812"',
    )
    log = await world.bot.services.advisories.audit_log("python/cpython", advisory["ghsa_id"])
    text = "\n".join(e.reason for e in log)
    assert "@gpshead: /credit @alice remediation_developer → done" in text
    assert "/ping … → done" in text and "/reject bug … → done" in text
    assert "SECRET-NOTE-8812" not in text and "tarfile" not in text


# -- the command line ---------------------------------------------------------------------------


async def test_replay_takes_only_githubs_own_events(
    bot_env: dict[str, str], tmp_path: Path
) -> None:
    forged = tmp_path / "forged.json"
    payload = {
        "action": "created",
        "installation": {"id": 1},
        "repository": {"full_name": "python/cpython"},
        "repository_advisory": {"ghsa_id": "GHSA-2222-3333-4444"},
        "comment": {"id": 1, "body": "/accept", "user": {"login": "gpshead", "type": "User"}},
    }
    forged.write_text(
        json.dumps(
            {
                "request": {
                    "headers": {
                        "X-GitHub-Event": "advisory_comment",
                        "X-GitHub-Delivery": "forged-1",
                        "Content-Type": "application/json",
                    },
                    "payload": payload,
                }
            }
        )
    )
    code, _, err = await run_cli(bot_env, "replay", str(forged))
    assert code == 2 and "signature" in err and "Traceback" not in err  # unsigned: refused
    code, _, err = await run_cli(bot_env, "replay", "--no-signature-check", str(forged))
    assert code == 2 and "never one GitHub sends" in err and "Traceback" not in err

    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    code, _, err = await run_cli(bot_env, "replay", str(deep))
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1

    huge = tmp_path / "huge.json"
    with huge.open("wb") as handle:
        handle.truncate(25 * 1024 * 1024 + 1)
    code, _, err = await run_cli(bot_env, "replay", str(huge))
    assert code == 2 and "more than GitHub ever delivers" in err


async def test_roster_import_refuses_control_characters(
    bot_env: dict[str, str], tmp_path: Path
) -> None:
    for name in ("Ann\x07Bell", "Ann\u202eBell", "Ann\x1b[31mBell"):
        listed = tmp_path / "psrt.csv"
        listed.write_text(f"Name,GitHub,Notes\n{name},annbell,\n", encoding="utf-8")
        code, out, err = await run_cli(bot_env, "roster", "import", "csv", str(listed))
        assert code == 2 and out == "" and "control character" in err and "line 2" in err


def test_records_are_written_inside_their_folder_only(tmp_path: Path) -> None:
    folder = tmp_path / "records"
    outside = tmp_path / "outside"
    outside.mkdir()
    for name in ("../../evil", "CVE-2026-1/../../x", "..", ".hidden", "a/b"):
        with pytest.raises(RecordError):
            write_record(folder, "cve", name, {})
    (folder).mkdir()
    (folder / "osv").symlink_to(outside, target_is_directory=True)
    with pytest.raises(RecordError, match="outside"):
        write_record(folder, "osv", "GHSA-2222-3333-4444", {})
    assert list(outside.iterdir()) == []
    assert write_record(folder, "cve", "CVE-2026-12345", {"ok": True}).is_file()


__all__ = ["REPORT"]
