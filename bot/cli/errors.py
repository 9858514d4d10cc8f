"""The CLI's one error: a message for the operator, and exit code 2."""

from __future__ import annotations


class CliError(Exception):
    """A message for the operator; the command exits 2."""
