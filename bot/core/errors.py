"""The one kind of failure that is an answer, not a fault.

A step that cannot do what was asked for a reason the asker should read (no
CVE provider configured, a state GitHub would refuse) raises :class:`Refused`;
the command loop answers with its message, and an event handler posts or logs
it. Anything else that goes wrong is a fault: retried, then parked.
"""

from __future__ import annotations


class Refused(Exception):
    """A step refused, with the reason to show (and whether the usage line helps)."""

    def __init__(self, message: str, *, show_usage: bool = False) -> None:
        super().__init__(message)
        self.show_usage = show_usage


class SafeMessage:
    """Mixed into an exception whose message the bot writes from its own state (a
    database's redacted error, a rate limit's reset time): never advisory text.
    Logs and the store keep such a message; of any other exception only its type
    and where it was raised (bot/github/errors.py, error_summary)."""
