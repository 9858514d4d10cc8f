"""GitHub's errors as the bot logs and shows them: never GitHub's text in a log.

(Re-exported by bot/github/client.py, where callers have always found them.)
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from gidgethub import BadRequest, HTTPException, InvalidField, ValidationError

# A field name as GitHub reports it (`summary`, `credits[0].login`); anything else
# is left out rather than echoed.
_FIELD_NAME = re.compile(r"[A-Za-z0-9_.\[\]-]{1,64}")


def _error_fields(error: HTTPException) -> list[str]:
    """The `field` names of a 422's `errors`; never their `message` or `value`."""
    if not isinstance(error, InvalidField | ValidationError):
        return []
    errors = error.errors if isinstance(error.errors, list) else []
    names = []
    for entry in errors:
        field = entry.get("field") if isinstance(entry, Mapping) else None
        if isinstance(field, str) and _FIELD_NAME.fullmatch(field) and field not in names:
            names.append(field)
    return names


def error_summary(error: BaseException) -> str:
    """A short, secret-free description of a failure, for logs and the store.

    GitHub's errors give their status, the exception's class and the names of
    the fields a 422 refused: never GitHub's own text, which can echo what was
    sent (a title, a description). :func:`reply_error` keeps it, for replies
    posted on the advisory itself.
    """
    if isinstance(error, HTTPException):
        text = f"GitHub {int(error.status_code)} {type(error).__name__}"
        fields = _error_fields(error)
        return f"{text} (fields: {', '.join(fields)})"[:500] if fields else text
    text = str(error)
    return f"{type(error).__name__}: {text}"[:500] if text else type(error).__name__


def reply_error(error: BaseException) -> str:
    """A failure as the team reads it on the advisory: GitHub's message kept.

    Only for replies posted on the advisory the request was about; logs and
    the store take :func:`error_summary`.
    """
    if isinstance(error, BadRequest):
        return f"GitHub {int(error.status_code)}: {error}"[:500]
    if isinstance(error, HTTPException):
        return f"GitHub {int(error.status_code)}"
    return error_summary(error)
