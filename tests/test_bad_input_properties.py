"""Property tests: arbitrary input gives a clear error, never a crash."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.config import ConfigError, parse_config
from bot.intake import IntakeError, parse_delivery, signature_for
from bot.team_formats import FormatError, parse_codeowners, parse_experts_rst, parse_psrt_csv

header_values = st.one_of(st.none(), st.text(max_size=300))


@settings(max_examples=300, deadline=None)
@given(
    body=st.binary(max_size=2000),
    event=header_values,
    guid=header_values,
    content_type=header_values,
    sign=st.booleans(),
)
def test_intake_refuses_with_a_status_or_accepts(
    body: bytes, event: str | None, guid: str | None, content_type: str | None, sign: bool
) -> None:
    headers = {"X-GitHub-Event": event, "X-GitHub-Delivery": guid, "Content-Type": content_type}
    if sign:
        headers["X-Hub-Signature-256"] = signature_for(body, b"s")
    clean = {k: v for k, v in headers.items() if v is not None}
    try:
        delivery = parse_delivery(clean, body, [b"s"], received_at=0.0)
    except IntakeError as error:
        assert error.status in {400, 401, 415}
        assert error.reason
    else:
        assert sign and isinstance(delivery.payload, dict)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=500))
def test_config_parser_gives_config_errors_only(text: str) -> None:
    try:
        parse_config(text, Path("config/bot.toml"))
    except ConfigError as error:
        assert str(error).startswith("config/bot.toml")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=800))
def test_team_file_readers_give_format_errors_only(text: str) -> None:
    for reader in (parse_psrt_csv, parse_experts_rst, parse_codeowners):
        try:
            reader(text)
        except FormatError as error:
            assert error.line >= 1
