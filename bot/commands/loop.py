"""The one command loop: advisory comments and governance issues both run their lines here.

A venue (an advisory's comments, the governance repository's issues) says
what differs: the registry's venue name, where the reply goes, how command
keys are prefixed, the caller's roles, the call a command function receives,
and what to do after each line. The loop does the rest, the same way for both:

1. keep the lines not run yet from this comment (keys by occurrence);
2. ask the venue for the caller's roles (once per comment, only when a line is left);
3. for each line, in order: find it in the registry, decide whether it runs
   (bot/commands/dispatch.py: role checks, the per-comment limit, silence for
   strangers), run it with a fresh call, record the outcome, tell the venue;
4. post the one reply the comment is owed (also the one a crash left owed).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any, Protocol

from bot.advisories.store import AdvisoryStore
from bot.commands.dispatch import ReplyPlace, decide, pending_lines, post_owed_reply, run_command
from bot.commands.log import CommandLog
from bot.commands.parser import CommandLine
from bot.commands.permissions import Roles
from bot.commands.registry import Registry
from bot.core.clock import Clock
from bot.github.client import GitHubClient


class CommandDoors(Protocol):
    """What the loop uses: the registry, the command log, the markers' store, GitHub, a clock."""

    @property
    def commands(self) -> Registry: ...

    @property
    def command_log(self) -> CommandLog: ...

    @property
    def advisories(self) -> AdvisoryStore: ...

    @property
    def github(self) -> GitHubClient: ...

    @property
    def clock(self) -> Clock: ...


class Venue(Protocol):
    """Where commands are written, and what differs there."""

    @property
    def name(self) -> str:
        """The registry's venue: `advisory` or `governance`."""
        ...

    @property
    def place(self) -> ReplyPlace: ...

    @property
    def key_prefix(self) -> str:
        """Put before each command key (keys of different venues never meet)."""
        ...

    async def caller_roles(self) -> Roles:
        """Every role the comment's author has here (asked at most once per comment)."""
        ...

    def call(self) -> Any:
        """What the next command function receives."""
        ...

    async def finished(self, call: Any | None, line: CommandLine, outcome: str) -> None:
        """After a line's outcome is recorded; `call` is None when it did not run."""
        ...


async def set_aside(
    doors: CommandDoors,
    venue: Venue,
    lines: Sequence[CommandLine],
    *,
    source_id: int,
    only: Collection[str] | None = None,
) -> None:
    """Keep the lines of comment `source_id` not run yet from running as its author.

    For words someone other than the author put in the comment (`only`: the keys
    that person's edit added; None when GitHub did not say what it changed, and
    then every line not run yet). Each is kept as a key only, no text and no reply
    owed; it runs later only when its author is shown to have written it (the
    `written` of :func:`run_commands`).
    """
    log = doors.command_log
    done = await log.command_keys(source_id)
    prefix = venue.key_prefix
    pending = pending_lines(lines, done, doors.advisories.digester, prefix=prefix, legacy=prefix)
    keys = [item.key for item in pending if only is None or item.key in only]
    if keys:
        await log.set_aside(source_id, keys, at=doors.clock.now())


async def run_commands(
    doors: CommandDoors,
    venue: Venue,
    lines: Sequence[CommandLine],
    *,
    source_id: int,
    caller: str,
    written: Collection[str] | None = None,
) -> None:
    """Run the lines of comment `source_id` not run before, then post the reply it is owed.

    `written`: when given, the keys of the lines the caller is known to have written
    in this version (all of a new comment's, what their own edit added): only those
    run, even when set aside (:func:`set_aside`); a line already in the comment
    before, which someone else may have put there, does not.
    """
    log = doors.command_log
    done = await log.command_keys(source_id)
    if written:
        done -= await log.set_aside_keys(source_id) & set(written)
    prefix = venue.key_prefix
    pending = pending_lines(lines, done, doors.advisories.digester, prefix=prefix, legacy=prefix)
    if written is not None:
        pending = [item for item in pending if item.key in written]
    if pending:
        roles = await venue.caller_roles()
        now = doors.clock.now()  # once the advisory and the roles are read, as the runs' time
        for item in pending:
            line = item.line
            declared = doors.commands.find(line.verb, venue.name)
            outcome = decide(
                item, declared, doors.commands, venue=venue.name, caller=caller, roles=roles
            )
            call = None
            if outcome is None and declared is not None:
                call = venue.call()
                outcome = await run_command(declared, line.arguments, call)
            outcome = outcome or ""
            await log.record_command(source_id, item.key, line.position, line.text, outcome, at=now)
            await venue.finished(call, line, outcome)
    await post_owed_reply(
        doors.github,
        doors.advisories,
        log,
        venue.place,
        source_id=source_id,
        caller=caller,
        now=doors.clock.now(),
    )
