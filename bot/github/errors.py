"""GitHub's errors as the bot logs and shows them: never GitHub's text in a log.

(Re-exported by bot/github/client.py, where callers have always found them.)
"""

from __future__ import annotations

import re
import traceback
from collections.abc import Mapping
from pathlib import PurePath

from gidgethub import BadRequest, HTTPException, InvalidField, ValidationError

from bot.core.errors import SafeMessage

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
    posted on the advisory itself. Other errors give their class and where
    they were raised; their message only when the bot wrote it (SafeMessage).
    """
    if isinstance(error, HTTPException):
        text = f"GitHub {int(error.status_code)} {type(error).__name__}"
        fields = _error_fields(error)
        return f"{text} (fields: {', '.join(fields)})"[:500] if fields else text
    name = type(error).__name__
    if isinstance(error, SafeMessage) and (text := str(error)):
        return f"{name}: {text}"[:500]
    if isinstance(error, OSError) and error.errno is not None:
        name = f"{name} (errno {error.errno})"  # not its message: that names a path
    # Any other message may quote what the handler held (a ValueError quoting a
    # title, a KeyError naming a key), so it is left out; the place is enough to
    # find the fault.
    frames = traceback.extract_tb(error.__traceback__)
    if frames:
        where = frames[-1]
        return f"{name} at {PurePath(where.filename).name}:{where.lineno} in {where.name}"[:500]
    return name


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
