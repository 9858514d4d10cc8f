"""What every venue's comment handler does with one command line, written once.

Advisory comments (handlers/comments.py) and governance issues
(handlers/governance.py) differ in where roles come from and where replies
go; the limit per comment, the refusals and running a command are the same.
"""

from __future__ import annotations

from typing import Any

from bot.commands.parser import ArgumentError, split_arguments
from bot.commands.registry import REGISTRY, Command, CommandError
from bot.github import error_summary

# A size limit like every other input's: a comment is at most 65,536 characters on
# GitHub, and a reply to thousands of commands would help nobody.
MAX_COMMANDS_PER_COMMENT = 20
TOO_MANY = (
    f"Not run: one comment runs at most {MAX_COMMANDS_PER_COMMENT} commands; "
    "put the rest in another comment."
)


def refusal(
    verb: str,
    declared: Command | None,
    *,
    venue: str,
    caller: str,
    roles: frozenset[str],
    check_failed: str | None = None,
) -> str | None:
    """Why `caller` may not run this line: None when they may, "" for silence.

    Unknown commands from someone with a role get the nearest command; from
    anyone else, silence. A check that could not be made denies and says so.
    """
    if declared is None:
        if not roles:
            return ""
        nearest = REGISTRY.nearest(verb, venue)
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


async def run_command(declared: Command, arguments: str, call: Any) -> str:
    """Run one command with its arguments; a failure becomes the outcome, never an exception."""
    try:
        call.arguments = split_arguments(arguments)
        return str(await declared.function(call))
    except (CommandError, ArgumentError) as error:
        usage = f" Usage: `{declared.usage}`" if getattr(error, "show_usage", True) else ""
        return f"Not done: {error}.{usage}"
    except Exception as error:
        return f"Failed: {error_summary(error)}. Nothing else was changed by this command."
