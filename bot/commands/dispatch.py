"""The steps of the command loop (bot/commands/loop.py), one function each.

Advisory comments (handlers/comments.py) and governance issues
(handlers/governance_commands.py) differ in where roles come from and where
replies go; the rest is here:

- each command line gets a key by occurrence (a hash of its words and how many
  times the same words came before it in the comment), so a comment seen again
  never runs a command twice, and the store keeps no comment text in the key;
- who may run a line, and what strangers get (silence, however many unknown
  commands they write);
- one reply per comment, shortened to fit GitHub's 65,536 characters, and
  rate-limited per person and place;
- what the audit log keeps of a command: its word, the arguments that are
  identifiers (logins, CWE, GHSA and CVE ids, credit types...) and the kind of
  outcome, never free text from the comment.
"""

from __future__ import annotations

import datetime
import hashlib
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bot.advisories.comments import post_once_at
from bot.advisories.store import AdvisoryStore
from bot.commands.log import CommandLog
from bot.commands.parser import ArgumentError, CommandLine, split_arguments
from bot.commands.permissions import Roles
from bot.commands.registry import Command, Registry
from bot.core.digests import Digester
from bot.core.errors import Refused
from bot.github.client import GitHubClient, reply_error

# A size limit like every other input's: a comment is at most 65,536 characters on
# GitHub, and a reply to thousands of commands would help nobody.
MAX_COMMANDS_PER_COMMENT = 20
TOO_MANY = (
    f"Not run: one comment runs at most {MAX_COMMANDS_PER_COMMENT} commands; "
    "put the rest in another comment."
)
# GitHub refuses a comment body over 65,536 characters (422). Replies stay well
# under it: each quoted command line and each outcome has its own cap.
GITHUB_COMMENT_LIMIT = 65_536
REPLY_BUDGET = 60_000
QUOTED_LINE_LIMIT = 300
OUTCOME_LIMIT = 20_000
# Replies to one person in one place (an advisory, a governance issue): at most
# this many per window. Commands still run; their replies are skipped, and one
# notice says until when. A flood of /status comments then costs a handful of
# writes, not one per comment on the installation's shared write lane.
REPLIES_PER_WINDOW = 10
REPLY_WINDOW_SECONDS = 600.0

EVERY_ROLE = frozenset({"member", "admin", "coordinator", "reporter", "collaborator"})


@dataclass(frozen=True)
class Pending:
    """A command line not run yet from its comment, with its key."""

    key: str
    line: CommandLine


def pending_lines(
    lines: Sequence[CommandLine],
    done: set[str],
    digester: Digester,
    *,
    prefix: str = "",
    legacy: str | None = None,
) -> list[Pending]:
    """The lines whose key is not in `done`.

    A key is a keyed digest of the line's words (bot/core/digests.py: the store keeps no
    comment text, not even a hash a dictionary could reverse) and its occurrence: the
    n-th line with the same words has occurrence n, wherever it stands, so an edit
    that inserts a line above does not make the ones below new. `legacy` also
    accepts keys stored before keys were digests (`{legacy}{words}#{n}`).
    """
    keys = line_keys(lines, digester, prefix=prefix)
    olds = _numbered(lines, lambda words: f"{legacy}{words}") if legacy is not None else keys
    return [
        Pending(key, line)
        for line, key, old in zip(lines, keys, olds, strict=True)
        if key not in done and old not in done
    ]


def line_keys(lines: Sequence[CommandLine], digester: Digester, *, prefix: str = "") -> list[str]:
    """Each line's key: a keyed digest of its words and its occurrence among the
    lines with the same words (see :func:`pending_lines`)."""
    return _numbered(lines, lambda words: f"{prefix}{digester.digest(words)}")


def _numbered(lines: Sequence[CommandLine], name: Callable[[str], str]) -> list[str]:
    """`name(words)#n` for each line, n its occurrence among the lines with the same words."""
    seen: Counter[str] = Counter()
    keys = []
    for line in lines:
        seen[line.key] += 1
        keys.append(f"{name(line.key)}#{seen[line.key]}")
    return keys


def refusal(
    verb: str,
    declared: Command | None,
    registry: Registry,
    *,
    venue: str,
    caller: str,
    roles: frozenset[str],
    check_failed: str | None = None,
) -> str | None:
    """Why `caller` may not run this line: None when they may, "" for silence.

    Unknown commands from someone with a role get the nearest command (or where
    the command is written, when it belongs to another venue); from anyone else,
    silence. A check that could not be made denies and says so.
    """
    if declared is None:
        if not roles:
            return ""
        elsewhere = registry.venue_of(verb)
        if elsewhere is not None and elsewhere != venue:
            return f"`/{verb}` is not written here: {VENUE_NAMES[elsewhere]}."
        nearest = registry.nearest(verb, venue)
        hint = f" Did you mean `/{nearest}`?" if nearest else ""
        return f"Unknown command `/{verb}`.{hint} See `/help`."
    if roles & declared.roles:
        return None
    if check_failed is not None:
        return (
            f"Denied: could not check whether @{caller} may use `/{declared.name}` "
            f"({check_failed}). Try again later."
        )
    return f"Denied: @{caller} may not use `/{declared.name}`; it is for {declared.allowed_for()}."


VENUE_NAMES = {
    "advisory": "it is written in an advisory's comments",
    "governance": "it is written in the governance repository's issues, which reporters "
    "do not read",
}


def decide(
    pending: Pending,
    declared: Command | None,
    registry: Registry,
    *,
    venue: str,
    caller: str,
    roles: Roles,
) -> str | None:
    """The outcome a line gets without running (a refusal, "" for silence), or None to run it.

    Someone with no role at all (a stranger) gets silence for every unknown
    command and for lines past the limit, however many they write.
    """
    if pending.line.position >= MAX_COMMANDS_PER_COMMENT:
        return TOO_MANY if roles.roles else ""
    return refusal(
        pending.line.verb,
        declared,
        registry,
        venue=venue,
        caller=caller,
        roles=roles.roles,
        check_failed=roles.check_failed,
    )


async def run_command(declared: Command, arguments: str, call: Any) -> str:
    """Run one command with its arguments; a failure becomes the outcome, never an exception."""
    try:
        call.arguments = split_arguments(arguments)
        return str(await declared.function(call))
    except (Refused, ArgumentError) as error:
        usage = f" Usage: `{declared.usage}`" if getattr(error, "show_usage", True) else ""
        return f"Not done: {error}.{usage}"
    except Exception as error:
        return f"Failed: {reply_error(error)}. Nothing else was changed by this command."


# -- replies --------------------------------------------------------------------------


def shortened(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def reply_body(caller: str, runs: Sequence[tuple[str, str]]) -> str:
    """`@caller:` then each command quoted and its outcome, within GitHub's limit.

    A quoted line is cut to QUOTED_LINE_LIMIT (the quote can never trigger anything
    either way), each outcome to OUTCOME_LIMIT, and once the reply would pass
    REPLY_BUDGET the remaining outcomes say they were left out.
    """
    parts = [f"@{caller}:"]
    size = len(parts[0])
    for text, outcome in runs:
        quoted = "> " + shortened(" ".join(text.split()), QUOTED_LINE_LIMIT)
        answer = shortened(outcome, OUTCOME_LIMIT)
        if size + len(quoted) + len(answer) + 6 > REPLY_BUDGET:
            answer = "(Answer left out: the reply would be longer than GitHub allows.)"
        parts += ["", quoted, "", answer]
        size += len(quoted) + len(answer) + 6
    return shortened("\n".join(parts), REPLY_BUDGET)


@dataclass(frozen=True)
class ReplyPlace:
    """Where a comment's reply goes, and the place its rate limit counts in."""

    url: str  # the comments collection to post to
    repository: str
    subject: str  # the advisory's GHSA id, or `issue-N` in the governance repository
    name_prefix: str  # the hidden marker's prefix: `reply` or `governance-reply`


async def post_owed_reply(
    client: GitHubClient,
    store: AdvisoryStore,
    log: CommandLog,
    place: ReplyPlace,
    *,
    source_id: int,
    caller: str,
    now: float,
) -> None:
    """Post the reply owed for `source_id`'s commands, once; then forget their text.

    Owed: command runs recorded with an outcome and not replied to yet (a retry
    after a failed POST finds them still owed). The quoted lines and outcomes live
    in the store only until the reply that carries them is on GitHub.
    """
    runs = await log.unreplied_runs(source_id)
    if not runs:
        return
    digest = hashlib.sha256("\n".join(key for key, _, _ in runs).encode()).hexdigest()[:12]
    body = reply_body(caller, [(text, outcome) for _, text, outcome in runs])
    name = f"{place.name_prefix}:{source_id}:{digest}"
    await post_limited(client, store, log, place, caller=caller, name=name, body=body, now=now)
    await log.forget_command_text(source_id)


async def post_limited(
    client: GitHubClient,
    store: AdvisoryStore,
    log: CommandLog,
    place: ReplyPlace,
    *,
    caller: str,
    name: str,
    body: str,
    now: float,
    budget: str | None = None,
) -> bool:
    """Post an answer to `caller` once (under marker `name`), within a reply budget.

    The budget is `caller`'s own unless `budget` names another: answers someone else
    caused (a notice that an edit ran nothing) must not spend the author's. False
    when it was posted before or the budget is spent (one notice says so).
    """
    spender = budget or caller
    if not await _reply_allowed(client, store, log, place, caller=spender, now=now):
        return False
    posted = await post_once_at(
        client, store, url=place.url, key=name, name=name, body=body, now=now
    )
    if posted:
        await log.record_reply(place.repository, place.subject, spender, at=now)
    return posted


async def _reply_allowed(
    client: GitHubClient,
    store: AdvisoryStore,
    log: CommandLog,
    place: ReplyPlace,
    *,
    caller: str,
    now: float,
) -> bool:
    """Within the window's budget; past it, one notice per window says until when."""
    window_start = now - REPLY_WINDOW_SECONDS
    sent = await log.replies_since(place.repository, place.subject, caller, since=window_start)
    if len(sent) < REPLIES_PER_WINDOW:
        return True
    resumes = min(sent) + REPLY_WINDOW_SECONDS
    window = int(min(sent) // REPLY_WINDOW_SECONDS)
    name = f"replies-paused:{place.subject}:{caller.lower()}:{window}"
    stamp = _utc(resumes)
    if not re.fullmatch(r"[A-Za-z0-9-]+", caller):
        return False  # a shared budget (edit notices): silence, no notice to anyone
    await post_once_at(
        client,
        store,
        url=place.url,
        key=f"{name}:{place.repository}",
        name=name,
        body=f"@{caller}: replies to you here are paused until {stamp} UTC (more than "
        f"{REPLIES_PER_WINDOW} in {REPLY_WINDOW_SECONDS / 60:g} minutes). Your commands still "
        "run; `/status` shows where things stand.",
        now=now,
    )
    return False


def _utc(timestamp: float) -> str:
    return f"{datetime.datetime.fromtimestamp(timestamp, datetime.UTC):%Y-%m-%d %H:%M}"


# -- the audit log ----------------------------------------------------------------------

_IDENTIFIER = re.compile(
    r"@[A-Za-z0-9][A-Za-z0-9-]{0,38}"  # a login, as written with @
    r"|CWE-[1-9][0-9]{0,6}"
    r"|GHSA(-[23456789cfghjmpqrvwx]{4}){3}"
    r"|CVE-[0-9]{4}-[0-9]{4,19}"
    r"|CVSS:[34]\.[01](/[A-Za-z]+:[A-Za-z])+"
    r"|--[a-z-]+"
    r"|[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"|[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}#[0-9]{1,10}"
    r"|https://[A-Za-z0-9.-]+/[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}/pull/[0-9]{1,10}",
    re.IGNORECASE,
)


# Words that are vocabulary, not text: credit types, severities, reasons, choices.
_VOCABULARY = frozenset(
    (
        *("finder", "reporter", "analyst", "coordinator", "tool", "sponsor", "other"),
        *("remediation_developer", "remediation_reviewer", "remediation_verifier"),
        *("low", "medium", "high", "critical", "not-a-vulnerability", "bug", "out-of-scope"),
        *("reject", "until", "yes", "no", "abstain"),
    )
)


def outcome_kind(outcome: str) -> str:
    for prefix, kind in (
        ("Denied", "denied"),
        ("Not done", "not done"),
        ("Failed", "failed"),
        ("Not run", "not run"),
        ("Unknown command", "unknown command"),
        ("`/", "not written here"),
    ):
        if outcome.startswith(prefix):
            return kind
    return "done"


def audit_summary(caller: str, line: CommandLine, outcome: str) -> str:
    """`@caller: /verb ARGS → kind`, where only identifier-like arguments are kept.

    Free text (a note, a reason, a module name) is written `…`: it is part of an
    embargoed advisory's comment and stays on GitHub.
    """
    try:
        words = split_arguments(line.arguments)
    except ArgumentError:
        words = [line.arguments] if line.arguments else []
    shown = [
        word if _IDENTIFIER.fullmatch(word) or word.lower() in _VOCABULARY else "…"
        for word in words
    ]
    command = " ".join([f"/{line.verb}", *shown])
    return f"@{caller}: {command} → {outcome_kind(outcome)}"


__all__ = [
    "EVERY_ROLE",
    "MAX_COMMANDS_PER_COMMENT",
    "TOO_MANY",
    "Pending",
    "ReplyPlace",
    "audit_summary",
    "decide",
    "pending_lines",
    "post_limited",
    "post_owed_reply",
    "refusal",
    "reply_body",
    "run_command",
]
