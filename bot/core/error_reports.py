"""Error reports to Sentry: opt-in (`SENTRY_DSN`), and nothing embargoed in them.

`sentry-sdk` is an optional extra (`pip install 'ghsa-bot[sentry]'`); without
`SENTRY_DSN` nothing here imports it. `ghsa-bot serve` calls :func:`start`
when the DSN is set, and refuses to start, in one line, when the library is
missing or the DSN is not one (:class:`ErrorReportsUnavailable`).

What a report may carry is decided by an allow-list, not by scrubbing known
fields, because a handler's exception can quote anything it touched: GitHub's
422 echoes the title it was sent, a `KeyError` names a key, a `ValueError`
quotes a value. So a report keeps only:

- the exception's *type* and module, for each exception of the chain, and as
  its value the type's name again (never `str(error)`);
- each frame's module, function, file name, line number and whether it is
  the bot's own code (no local variables, no source lines, no absolute paths);
- the tags in :data:`ALLOWED_TAGS` (the GitHub event name, the handler, the
  background job), each a short plain token;
- the event id, time, level, platform, release, environment and SDK name.

Everything else (messages, log records, breadcrumbs, request data, users,
`extra`, contexts, server name, modules, threads) is dropped by
:func:`scrub_event`, and an event with no exception is dropped whole. On top
of the allow-list, the SDK is told not to collect: no default PII, no local
variables, no request bodies, no source context, no breadcrumbs (and
:func:`drop_breadcrumb` drops any that are made), no logging integration (log
lines are not events), no automatic integrations (aiohttp would add request
data), no transactions, sessions or client reports.

The worker reports a handler's failure with :func:`report_exception`, tagged
with the event and the handler's name; the background jobs do the same with
the job's name.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sentry_sdk.transport import Transport
    from sentry_sdk.types import Event, Hint

# Tags a report may carry; values must also match _TOKEN.
ALLOWED_TAGS = frozenset({"event", "handler", "job"})
# Top-level event fields kept as they are (plain values the SDK sets).
_KEPT_FIELDS = ("event_id", "timestamp", "level", "platform", "release", "environment")
_TOKEN = re.compile(r"[A-Za-z0-9_.:\-]{1,120}")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_.]{0,200}")
_FUNCTION = re.compile(r"[A-Za-z0-9_.<>]{1,200}")
_FILENAME = re.compile(r"[A-Za-z0-9_./<>\-]{1,300}")
_MAX_FRAMES = 100
_MAX_EXCEPTIONS = 10

_started = False


class ErrorReportsUnavailable(Exception):
    """SENTRY_DSN is set but reports cannot be sent: said in one line, `serve` stops."""


def start(
    dsn: str,
    *,
    release: str | None = None,
    environment: str | None = None,
    transport: Transport | None = None,
) -> None:
    """Send error reports to Sentry at `dsn` from now on (`transport`: tests only)."""
    global _started
    try:
        import sentry_sdk
        from sentry_sdk.integrations.atexit import AtexitIntegration
        from sentry_sdk.integrations.dedupe import DedupeIntegration
    except ImportError:
        raise ErrorReportsUnavailable(
            "SENTRY_DSN is set but sentry-sdk is not installed: "
            "pip install 'ghsa-bot[sentry]', or unset SENTRY_DSN"
        ) from None
    options: dict[str, Any] = {}
    if transport is not None:
        options["transport"] = transport
    try:
        with warnings.catch_warnings():
            # Newer SDKs call send_default_pii deprecated in favour of `data_collection`,
            # which they derive from it (False: the least); older 2.x know only it.
            warnings.filterwarnings("ignore", "The send_default_pii option", DeprecationWarning)
            sentry_sdk.init(
                dsn=dsn,
                release=release,
                environment=environment,
                send_default_pii=False,
                include_local_variables=False,
                include_source_context=False,
                max_request_body_size="never",
                max_breadcrumbs=0,
                attach_stacktrace=False,
                before_send=scrub_event,
                before_breadcrumb=drop_breadcrumb,
                before_send_transaction=_drop_transaction,
                traces_sample_rate=None,
                default_integrations=False,
                auto_enabling_integrations=False,
                integrations=[DedupeIntegration(), AtexitIntegration(callback=_quiet_exit)],
                auto_session_tracking=False,
                send_client_reports=False,
                **options,
            )
    except Exception as error:  # sentry_sdk.utils.BadDsn, a wrong type
        # The DSN itself is not repeated: it holds the project's key.
        raise ErrorReportsUnavailable(
            f"SENTRY_DSN is not a Sentry DSN ({type(error).__name__}); "
            "expected https://KEY@HOST/PROJECT"
        ) from None
    _started = True


def stop() -> None:
    """Send what is pending (within 2 s) and stop reporting."""
    global _started
    if not _started:
        return
    import sentry_sdk

    _started = False
    client = sentry_sdk.get_client()
    client.flush(timeout=2.0)
    client.close(timeout=2.0)
    sentry_sdk.get_global_scope().set_client(None)


def flush(timeout: float = 2.0) -> None:
    """Wait up to `timeout` seconds for pending reports to be handed to the transport."""
    if _started:
        import sentry_sdk

        sentry_sdk.flush(timeout=timeout)


def enabled() -> bool:
    return _started


def report_exception(error: BaseException, **tags: str) -> None:
    """Report `error` (its type and stack only) with `tags` from :data:`ALLOWED_TAGS`.

    Does nothing unless :func:`start` ran; never raises.
    """
    if not _started:
        return
    try:
        import sentry_sdk

        with sentry_sdk.new_scope() as scope:
            for name, value in tags.items():
                if name in ALLOWED_TAGS and _TOKEN.fullmatch(value):
                    scope.set_tag(name, value)
            sentry_sdk.capture_exception(error)
    except Exception:  # noqa: S110 - a report that cannot be made must not fail the caller
        pass


def drop_breadcrumb(crumb: Mapping[str, Any], hint: Mapping[str, Any]) -> None:
    """No breadcrumbs at all: a log line's or a request's crumb can carry text."""
    return None


def _drop_transaction(event: Event, hint: Hint) -> None:
    return None


def _quiet_exit(pending: int, timeout: float) -> None:
    """At exit the SDK sends what is pending without printing about it."""


def scrub_event(event: Event, hint: Hint) -> Event | None:
    """The event cut to the allow-list (see the module's docstring); None drops it."""
    exception = event.get("exception")
    values = exception.get("values") if isinstance(exception, Mapping) else None
    if not isinstance(values, list) or not values:
        return None  # a message or a log record, not an exception: never sent
    kept: dict[str, Any] = {
        name: event[name]  # type: ignore[literal-required]
        for name in _KEPT_FIELDS
        if isinstance(event.get(name), (str, int, float))
    }
    kept["exception"] = {
        "values": [
            _scrub_exception(value)
            for value in values[-_MAX_EXCEPTIONS:]
            if isinstance(value, Mapping)
        ]
    }
    tags = event.get("tags")
    if isinstance(tags, Mapping):
        kept["tags"] = {
            name: value
            for name, value in tags.items()
            if name in ALLOWED_TAGS and isinstance(value, str) and _TOKEN.fullmatch(value)
        }
    sdk = event.get("sdk")
    if isinstance(sdk, Mapping):
        kept["sdk"] = {name: _plain(sdk.get(name), _TOKEN) for name in ("name", "version")}
    result: Event = kept  # type: ignore[assignment]
    return result


def _plain(value: Any, pattern: re.Pattern[str], default: str = "?") -> str:
    return value if isinstance(value, str) and pattern.fullmatch(value) else default


def _scrub_exception(value: Mapping[str, Any]) -> dict[str, Any]:
    """One exception of the chain: its type twice (as type and value), its frames."""
    type_name = _plain(value.get("type"), _IDENTIFIER, "Exception")
    scrubbed: dict[str, Any] = {"type": type_name, "value": type_name}
    if isinstance(value.get("module"), str) and _IDENTIFIER.fullmatch(value["module"]):
        scrubbed["module"] = value["module"]
    mechanism = value.get("mechanism")
    if isinstance(mechanism, Mapping):
        kept_mechanism: dict[str, Any] = {
            "type": _plain(mechanism.get("type"), _TOKEN, "generic"),
        }
        for name in ("handled", "is_exception_group"):
            if isinstance(mechanism.get(name), bool):
                kept_mechanism[name] = mechanism[name]
        for name in ("exception_id", "parent_id"):
            if type(mechanism.get(name)) is int:
                kept_mechanism[name] = mechanism[name]
        if mechanism.get("source") in ("__cause__", "__context__"):
            kept_mechanism["source"] = mechanism["source"]
        scrubbed["mechanism"] = kept_mechanism
    stacktrace = value.get("stacktrace")
    frames = stacktrace.get("frames") if isinstance(stacktrace, Mapping) else None
    if isinstance(frames, list):
        scrubbed["stacktrace"] = {
            "frames": [
                _scrub_frame(frame) for frame in frames[-_MAX_FRAMES:] if isinstance(frame, Mapping)
            ]
        }
    return scrubbed


def _scrub_frame(frame: Mapping[str, Any]) -> dict[str, Any]:
    """Where the code was: module, function, file name, line; never variables or source."""
    kept: dict[str, Any] = {
        "module": _plain(frame.get("module"), _IDENTIFIER),
        "function": _plain(frame.get("function"), _FUNCTION),
        "filename": _plain(frame.get("filename"), _FILENAME),
    }
    if type(frame.get("lineno")) is int:
        kept["lineno"] = frame["lineno"]
    if isinstance(frame.get("in_app"), bool):
        kept["in_app"] = frame["in_app"]
    return kept
