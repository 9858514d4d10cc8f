"""The command parser: the edge cases other bots' users hit (anchors-command-bots.md §4)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.commands.parser import ArgumentError, find_commands, login, split_arguments


def verbs(body: str) -> list[str]:
    return [command.verb for command in find_commands(body)]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("/accept", ["accept"]),
        ("  /Accept  ", ["accept"]),  # leading spaces; case-insensitive
        ("/accept\n/credit @a finder\n/invite @b", ["accept", "credit", "invite"]),
        ("```\n/accept\n```", []),  # fenced code
        ("~~~\n/accept\n~~~", []),  # tilde fence
        ("```\n/accept", []),  # unclosed fence
        ("text\n\n    /accept", []),  # indented code
        ("`/accept` is a command", []),  # inline code
        ("> /accept", []),  # quote
        ("> > /accept", []),  # nested quote
        ("> quoted\n/accept", []),  # lazy continuation of the quote
        ("<!--\n/accept\n-->", []),  # HTML comment block
        ("text <!-- start\n/accept\n--> end", []),  # inline HTML comment over lines
        ("<details>\n/accept\n</details>", []),  # HTML block
        ("please /accept this", []),  # not at the start of a line
        ("/usr/bin/python crashes", []),  # a path, not a command
        ("/accept\r\n/reject bug\r\n", ["accept", "reject"]),  # CRLF
        ("- /accept", []),  # a list item's line does not start with /
        ("/accept.", ["accept"]),  # trailing period
        ("```\n/a\n```\n/accept", ["accept"]),  # resumes after code
    ],
)
def test_where_commands_are_found(body: str, expected: list[str]) -> None:
    assert verbs(body) == expected


def test_arguments_positions_and_keys() -> None:
    found = find_commands('intro\n/credit @alice remediation_developer.\n/reject bug "a note"')
    assert [(c.position, c.line, c.arguments) for c in found] == [
        (0, 1, "@alice remediation_developer."),
        (1, 2, 'bug "a note"'),
    ]
    assert split_arguments(found[0].arguments) == ["@alice", "remediation_developer"]
    assert split_arguments(found[1].arguments) == ["bug", "a note"]
    assert found[0].key == "credit @alice remediation_developer."


def test_logins_and_bad_arguments() -> None:
    assert login("@gpshead") == "gpshead" and login("gpshead") == "gpshead"
    for bad in ("@", "", "a b", "-x", "x" * 40):
        with pytest.raises(ArgumentError):
            login(bad)
    with pytest.raises(ArgumentError):
        split_arguments('"unclosed')


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_arbitrary_text_never_crashes(body: str) -> None:
    for command in find_commands(body):
        assert command.verb == command.verb.lower()


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(
        [
            "```\n{}\n```",
            "~~~\n{}\n~~~",
            "> {}",
            "> > {}",
            "<!--\n{}\n-->",
            "`{}`",
            "    {}",
            "<div>\n{}\n</div>",
        ]
    ),
    st.sampled_from(["accept", "reject bug", "credit @a finder"]),
    st.text(alphabet="abc \n", max_size=20),
)
def test_a_command_in_code_a_quote_or_html_never_parses(
    wrapper: str, command: str, noise: str
) -> None:
    body = "intro\n\n" + wrapper.format("/" + command) + "\n"
    assert find_commands(body) == []
