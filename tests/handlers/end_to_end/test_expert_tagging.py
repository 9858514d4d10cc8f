"""Maintainers tagged when it matters, end to end on the fake GitHub.

Before a report is accepted the bot names its experts without `@` (nobody is
notified); once the team accepts it (GitHub's own accept, `/accept`, a title tag
that acts) one comment tags the experts and CODEOWNERS owners of its modules,
teams included, and says how a coordinator invites them. Tagging grants no
access, is posted once per advisory, and only ever mentions logins from the
team's files: the reporter writes the report, not the list of who is pinged.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest

from bot.advisories.comments import marker
from bot.advisories.expert_tags import MAX_TAGGED, TAGGED, mention
from bot.core.config import ConfigError, parse_config
from bot.team.formats import parse_codeowners, parse_experts_rst
from tests.conftest import StartBot
from tests.fakegithub import FakeGitHub
from tests.harness import REPORT, ROOT, World, reported_payload, world_with
from tests.scenarios import commented, configure

REPO = "python/cpython"
TAG_MARKER = marker(TAGGED)
# REPORT is about tarfile (CODEOWNERS: @ethanfurman); this line adds `email` (experts
# index: warsaw, bitdancer; CODEOWNERS `**/*mail*`: @python/email-team).
DESCRIPTION = REPORT + "\nThe same archive also reaches `email.message` through a header.\n"
MAINTAINERS = {"@ethanfurman", "@warsaw", "@bitdancer", "@python/email-team"}
_MENTION = re.compile(r"(?<![\w/`@])@([A-Za-z0-9][A-Za-z0-9-]*(?:/[A-Za-z0-9._-]+)?)")


def mentions(body: str) -> set[str]:
    """The `@` mentions GitHub would notify: outside code spans and HTML comments."""
    text = re.sub(r"<!--.*?-->", "", body, flags=re.S)
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    text = re.sub(r"`[^`]*`", "", text)
    return {"@" + name for name in _MENTION.findall(text)}


def bot_comments(world: World, advisory: dict[str, Any]) -> list[str]:
    return [
        str(c["body"])
        for c in world.fake.comments[(REPO, advisory["ghsa_id"])]
        if "<!-- ghsa-bot:" in c["body"]
    ]


def tagging(world: World, advisory: dict[str, Any]) -> list[str]:
    return [body for body in bot_comments(world, advisory) if body.startswith(TAG_MARKER)]


async def report(world: World, reporter: str, **fields: Any) -> dict[str, Any]:
    advisory = world.fake.new_advisory(
        REPO,
        summary=fields.pop("summary", "tarfile escape"),
        description=fields.pop("description", DESCRIPTION),
        reporter=reporter,
    )
    advisory.update(fields)
    await world.bot.send("repository_advisory", reported_payload(world.bot, advisory, reporter))
    await world.bot.settle()
    return advisory


async def poll(world: World) -> None:
    await world.bot.services.poller.poll_once()
    await world.bot.settle()


async def configured(
    start_bot: StartBot,
    fake_github: tuple[FakeGitHub, str],
    bot_env: dict[str, str],
    text: str = "",
    *,
    tag: str = "on-accept",
) -> World:
    """The bot on the shipped configuration, `[experts] tag` set and `text` added."""

    def edit(toml: str) -> str:
        assert toml.count('tag = "on-accept"') == 1  # the shipped example sets the default
        return toml.replace('tag = "on-accept"', f'tag = "{tag}"') + "\n" + text + "\n"

    configure(bot_env, edit)
    return await world_with(start_bot, fake_github)


async def test_before_acceptance_experts_are_named_but_nobody_is_notified(world: World) -> None:
    advisory = await report(world, "alice")
    [suggestion] = [b for b in bot_comments(world, advisory) if "**Experts**" in b]
    assert "ethanfurman" in suggestion and "warsaw" in suggestion
    assert tagging(world, advisory) == []
    notified = set().union(*(mentions(b) for b in bot_comments(world, advisory)))
    assert notified == {"@alice"}  # the acknowledgement greets the reporter, nobody else

    # The reporter retitles it `[ACCEPTED]`; an outsider writes /accept: neither accepts.
    advisory["summary"], advisory["updated_at"] = "[ACCEPTED] tarfile", "2099-01-01T00:00:00Z"
    await poll(world)
    await commented(world, advisory, "mallory", "/accept")
    await commented(world, advisory, "alice", "/accept")
    assert advisory["state"] == "triage"
    assert tagging(world, advisory) == []
    notified = set().union(*(mentions(b) for b in bot_comments(world, advisory)))
    assert notified.isdisjoint(MAINTAINERS)


async def test_accept_tags_experts_and_owner_teams_once_and_invites_nobody(world: World) -> None:
    advisory = await report(world, "alice")
    collaborators = [u["login"] for u in advisory["collaborating_users"]]
    teams = [t["slug"] for t in advisory["collaborating_teams"]]

    await commented(world, advisory, "gpshead", "/accept")
    assert advisory["state"] == "draft"
    [tags] = tagging(world, advisory)
    assert mentions(tags) == MAINTAINERS
    assert "`tarfile`" in tags and "`email`" in tags
    assert "only once you are invited" in tags and "`/invite @user`" in tags
    # A mention grants nothing: the collaborators are what triage gave, no more.
    assert [u["login"] for u in advisory["collaborating_users"]] == collaborators
    assert [t["slug"] for t in advisory["collaborating_teams"]] == teams
    log = await world.bot.services.advisories.audit_log(REPO, advisory["ghsa_id"])
    [entry] = [e for e in log if e.action == "experts-tagged"]
    assert entry.reason == "accepted (/accept): tagged 3 people and 1 team(s)"  # never who

    # Acceptance seen again: the poller, the webhook redelivered, /accept once more, a
    # title tag that acts on an advisory already a draft: no second tagging comment.
    await poll(world)
    payload = reported_payload(world.bot, advisory, "alice")
    await world.bot.send("repository_advisory", payload)
    await world.bot.settle()
    await commented(world, advisory, "gpshead", "/accept")
    advisory["summary"], advisory["updated_at"] = "[ACCEPTED] tarfile", "2099-01-03T00:00:00Z"
    await poll(world)
    assert len(tagging(world, advisory)) == 1


@pytest.mark.parametrize(
    "fault",
    [{"status": 502}, {"drop_after": True}],  # refused; made but the answer was lost
    ids=["5xx", "made-but-answer-lost"],
)
async def test_a_failed_post_is_retried_and_still_tags_once(
    world: World, fault: dict[str, Any]
) -> None:
    """The reply and the tagging comment are separate deliveries' work: either failing
    makes neither run /accept again nor tag twice."""
    advisory = await report(world, "gil")
    world.fake.inject(rf"{advisory['ghsa_id']}/comments$", method="POST", times=2, **fault)
    world.fake.add_advisory_comment(REPO, advisory["ghsa_id"], "gpshead", "/accept")
    await world.bot.services.poller.poll_comments()
    for _ in range(30):  # the worker retries with backoff on the bot's (stepped) clock
        counts = await world.bot.services.store.counts_by_state()
        if not any(counts.get(state) for state in ("queued", "waiting", "running")):
            break
        world.clock.advance(60)
        world.bot.services.worker.notify()
        await asyncio.sleep(0.1)
    await world.bot.settle()
    assert advisory["state"] == "draft"
    [reply] = [b for b in bot_comments(world, advisory) if "<!-- ghsa-bot:reply:" in b]
    assert "Accepted" in reply
    [tags] = tagging(world, advisory)
    assert mentions(tags) == MAINTAINERS


async def test_accepting_on_github_tags_once_even_when_seen_again(world: World) -> None:
    advisory = await report(world, "bea")
    # "Accept and open as draft" on GitHub's page: the poller sees triage → draft.
    advisory["state"], advisory["updated_at"] = "draft", "2099-01-01T00:00:00Z"
    await poll(world)
    [tags] = tagging(world, advisory)
    assert mentions(tags) == MAINTAINERS
    log = await world.bot.services.advisories.audit_log(REPO, advisory["ghsa_id"])
    assert [e.reason.split(":")[0] for e in log if e.action == "experts-tagged"] == [
        "accepted (on GitHub)"
    ]
    # Closed and reopened as a draft: a second "accepted" signal, nothing new.
    advisory["state"], advisory["updated_at"] = "closed", "2099-01-02T00:00:00Z"
    await poll(world)
    advisory["state"], advisory["updated_at"] = "draft", "2099-01-03T00:00:00Z"
    await poll(world)
    assert len(tagging(world, advisory)) == 1


async def test_a_title_tag_that_acts_tags_once(
    start_bot: StartBot, fake_github: tuple[FakeGitHub, str], bot_env: dict[str, str]
) -> None:
    world = await configured(
        start_bot,
        fake_github,
        bot_env,
        "[unsafe]\ncollaborators_change_state_with_title_tags = true",
    )
    advisory = await report(world, "cyd")
    advisory["summary"], advisory["updated_at"] = "[ACCEPTED] tarfile", "2099-01-01T00:00:00Z"
    await poll(world)
    assert advisory["state"] == "draft"
    [tags] = tagging(world, advisory)
    assert mentions(tags) == MAINTAINERS
    await commented(world, advisory, "gpshead", "/accept")  # already a draft
    await poll(world)
    assert len(tagging(world, advisory)) == 1


async def test_tag_never_keeps_suggesting_and_never_tags(
    start_bot: StartBot, fake_github: tuple[FakeGitHub, str], bot_env: dict[str, str]
) -> None:
    world = await configured(start_bot, fake_github, bot_env, tag="never")
    accepted_here = await report(world, "dan")
    await commented(world, accepted_here, "gpshead", "/accept")
    on_github = await report(world, "eve")
    on_github["state"], on_github["updated_at"] = "draft", "2099-01-01T00:00:00Z"
    await poll(world)
    for advisory in (accepted_here, on_github):
        assert advisory["state"] == "draft"
        assert any("**Experts**" in b for b in bot_comments(world, advisory))
        assert tagging(world, advisory) == []
        notified = set().union(*(mentions(b) for b in bot_comments(world, advisory)))
        assert notified.isdisjoint(MAINTAINERS)


async def test_tag_on_report_tags_at_triage_in_place_of_the_suggestion(
    start_bot: StartBot, fake_github: tuple[FakeGitHub, str], bot_env: dict[str, str]
) -> None:
    world = await configured(start_bot, fake_github, bot_env, tag="on-report")
    advisory = await report(world, "fay")
    [tags] = tagging(world, advisory)
    assert mentions(tags) == MAINTAINERS and "This report is new" in tags
    assert not any("**Experts**" in b for b in bot_comments(world, advisory))
    log = await world.bot.services.advisories.audit_log(REPO, advisory["ghsa_id"])
    assert [e.reason.split(":")[0] for e in log if e.action == "experts-tagged"] == ["on report"]
    # The webhook again, then acceptance: still the one comment.
    await world.bot.send("repository_advisory", reported_payload(world.bot, advisory, "fay"))
    await world.bot.settle()
    await commented(world, advisory, "gpshead", "/accept")
    assert advisory["state"] == "draft"
    assert len(tagging(world, advisory)) == 1


async def test_a_reporter_who_is_an_expert_is_not_tagged_on_their_own_report(
    world: World,
) -> None:
    advisory = await report(world, "warsaw")
    await commented(world, advisory, "gpshead", "/accept")
    [tags] = tagging(world, advisory)
    assert mentions(tags) == MAINTAINERS - {"@warsaw"}


def _team_logins() -> set[str]:
    """Everyone the team's files name: the experts index and every CODEOWNERS owner."""
    fixtures = ROOT / "tests" / "fixtures" / "cpython"
    index = parse_experts_rst((fixtures / "experts.rst").read_text(encoding="utf-8"))
    owners = parse_codeowners((fixtures / "CODEOWNERS").read_text(encoding="utf-8"))
    logins = {"@" + expert.login for area in index for expert in area.experts}
    return logins | {owner for rule in owners for owner in rule.owners if owner.startswith("@")}


async def test_a_reporter_cannot_make_the_bot_mention_anyone_but_the_teams_maintainers(
    world: World,
) -> None:
    """The reporter writes the title, description, affected package and functions: they
    name fake modules, paths and mentions, and every module the index knows."""
    crafted = (
        "Affects the `victim` module (import victim; from victim import x; victim.run()).\n"
        "See Lib/victim.py, Lib/victim/__init__.py and Lib/tarfile/@victim for details.\n"
        "Maintainers: @victim @python/everyone `@victim` [x](https://github.com/victim)\n"
        "@[victim] \uff20victim\n"  # a fullwidth at sign too
    )
    advisory = await report(
        world,
        "mallory",
        summary="@victim: module victim is broken",
        description=crafted,
        vulnerabilities=[
            {
                "package": {"ecosystem": "pip", "name": "@victim"},
                "vulnerable_version_range": None,
                "patched_versions": None,
                "vulnerable_functions": ["@victim.run", "victim", "@python/everyone"],
            }
        ],
    )
    await commented(world, advisory, "gpshead", "/accept")
    assert advisory["state"] == "draft"
    [tags] = tagging(world, advisory)
    assert "victim" not in tags and "everyone" not in tags
    assert mentions(tags) == {"@ethanfurman"}  # Lib/tarfile/ is tarfile's: a real owner
    everything = set().union(*(mentions(b) for b in bot_comments(world, advisory)))
    assert "@victim" not in everything and "@python/everyone" not in everything
    assert everything <= _team_logins() | {"@mallory", "@gpshead"}
    log = await world.bot.services.advisories.audit_log(REPO, advisory["ghsa_id"])
    assert not any("victim" in e.reason or "ethanfurman" in e.reason for e in log)

    # Every module the index knows, named at once: at most MAX_TAGGED are mentioned.
    index = parse_experts_rst(
        (ROOT / "tests" / "fixtures" / "cpython" / "experts.rst").read_text(encoding="utf-8")
    )
    every = " ".join(f"`{area.name}`" for area in index if " " not in area.name)
    flood = await report(world, "mallory", summary="everything", description=every)
    flood["state"], flood["updated_at"] = "draft", "2099-01-01T00:00:00Z"
    await poll(world)
    [tags] = tagging(world, flood)
    assert len(mentions(tags)) == MAX_TAGGED
    assert mentions(tags) <= _team_logins() and "@mallory" not in mentions(tags)
    assert f"not tagged (at most {MAX_TAGGED} are)" in tags


def test_a_mistyped_mode_is_refused_with_file_key_and_line() -> None:
    """A careless operator: anything but the three modes stops the bot from starting."""
    with pytest.raises(ConfigError) as caught:
        parse_config('[team]\nname = "T"\n\n[experts]\ntag = "always"\n', Path("bot.toml"))
    assert str(caught.value) == (
        "bot.toml, line 5: experts.tag: expected one of on-accept, on-report, never; got 'always'"
    )
    assert parse_config('[team]\nname = "T"\n', Path("bot.toml")).experts_tag == "on-accept"


def test_only_logins_and_teams_are_ever_mentioned() -> None:
    """What a team file may hold beyond logins (emails, typos) is never turned into `@`."""
    assert mention("ethanfurman") == "@ethanfurman"
    assert mention("python/email-team") == "@python/email-team"
    for name in ("docs@python.org", "@x", "a b", "x/y/z", "victim)", "-x", "a" * 40, "", "x\n@y"):
        assert mention(name) is None, name
