"""The command parser: the edge cases other bots' users hit (anchors-command-bots.md §4)."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.commands import parser
from bot.commands.parser import (
    ArgumentError,
    find_commands,
    login,
    parse_commands,
    split_arguments,
)


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


# -- only what GitHub shows as ordinary text at a line start (the cases) -------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # after a code span over two lines, a command is found on its own line ...
        ("`a\nb`\n/accept <!-- x\ny -->", [(2, "accept")]),
        # ... and an inline comment after such a span hides its own lines, not earlier ones
        ("`a\nb` <!-- x\n/accept -->", []),
        ('`a\nb` <span title="x\n/accept y">', []),  # a tag's attribute after such a span
        ("see `a\n/accept\nb` done", []),  # inside a code span over lines
        ("![\n/accept\n](u)", []),  # image alt text
        ('![a](u "\n/accept\n")', []),  # an image title
        ('[a](u "\n/accept\n")', []),  # a link title
        ('[a](u "t\n/accept\n") after\n/status', [(3, "status")]),  # no drift after a title
        ("[\n/accept\n](u)", []),  # link text
        ("*a\n/accept b*", []),  # emphasis
        ("**a\n/accept b**", []),  # strong
        ("~~a\n/accept b~~", []),  # strikethrough
        ("| a |\n|---|\n/accept", []),  # a table row (GFM: a row needs no pipe)
        ("/accept | b\n--|--", []),  # a table's header row
        ("x <script>\n/accept\n</script>", []),  # inside an inline <script>
        ("x <textarea>\n/accept\n</textarea>", []),  # inside an inline <textarea>
        ("<!-- a --> <!-- b\n\n/accept", []),  # an unclosed comment hides all after it
        ("- <!--\n\n/accept", []),  # ... even when its HTML block ends with a list item
        ("> <!--\n\n/accept", []),  # ... or with a quote
        ("- <!--\n  a\n\n/accept\n<!-- b -->\n/status", []),  # ... and past a later -->
        ("<div title='a\n\n/accept", []),  # an unterminated tag swallows what follows
    ],
)
def test_only_ordinary_text_at_a_line_start_counts(
    body: str, expected: list[tuple[int, str]]
) -> None:
    """Each case was wrong before the parser read markdown-it's tokens with sentinels."""
    assert [(c.line, c.verb) for c in find_commands(body)] == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("[x]:\n/accept", []),  # a definition's destination on the next line
        ("[x]: /u\n't\n/accept\n'", []),  # a definition's title over lines
        ('<span title="\n/accept\n">', []),  # a tag's attributes
        ("<!--\n/accept", []),  # an unclosed comment
        ("[a](\n/accept)", []),  # a link destination on the next line
        ("[q\n/accept]\n\n[q /accept]: /u", []),  # a link label over lines, defined on one
        ("[q /a]\n\n[q\n/accept]: /u\n\n/status", [(5, "status")]),
        ("- a\n  /accept", [(1, "accept")]),  # a list item's continuation line counts
        ("1. a\n   /accept\n2. b", [(1, "accept")]),
        ("/accept\n===", [(0, "accept")]),  # so does a (setext) heading's line
        ("a  \n/accept", [(1, "accept")]),  # after a hard break
        ("a\\\n/accept", [(1, "accept")]),
        ("x <b>\n/accept b\n</b>", [(1, "accept")]),  # between raw inline tags: shown
        ("<b>\n/accept\n</b>", []),  # a lone tag on its line starts an HTML block
        ("a <!-- x --> b\n/accept", [(1, "accept")]),  # a closed inline comment
        ("<script>\n/a\n</script>\n/accept", [(3, "accept")]),  # a closed HTML block
        ("\\/accept", []),  # escaped: the line does not start with /
        ("- /accept", []),  # a list item's marker starts the line
        ("# /accept", []),  # so does a heading's
    ],
)
def test_other_constructs(body: str, expected: list[tuple[int, str]]) -> None:
    assert [(c.line, c.verb) for c in find_commands(body)] == expected


# -- bounded work: the event loop keeps running -----------------------------------------


async def test_a_pathological_comment_does_not_block_the_event_loop() -> None:
    body = "![" * (32 * 1024) + "\n/accept\n"  # markdown-it takes ~0.7-2 s on this
    worst = 0.0
    ticks = 0
    done = False

    async def ticker() -> None:
        nonlocal worst, ticks
        while not done:
            before = time.perf_counter()
            await asyncio.sleep(0.001)
            worst = max(worst, time.perf_counter() - before - 0.001)
            ticks += 1

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0.01)
    started = time.perf_counter()
    try:
        found = await parse_commands(body)
    finally:
        done = True
        await task
    took = time.perf_counter() - started
    assert [(c.line, c.verb) for c in found] == [(1, "accept")]
    assert took > 0.05 and ticks > 5, (took, ticks)  # the parse took a while, and ...
    assert worst < 0.2, f"the event loop was blocked for {worst * 1000:.0f} ms"


async def test_a_comment_without_command_lines_is_not_parsed() -> None:
    before = parser.parses
    body = "![" * (512 * 1024) + "\nplease /accept\n`/status`\n> /accept"
    started = time.perf_counter()
    assert await parse_commands(body) == []
    assert find_commands(body) == []
    assert time.perf_counter() - started < 0.5
    assert parser.parses == before
    assert await parse_commands("x\n/accept") != [] and parser.parses == before + 1


async def test_parses_run_one_at_a_time_on_one_thread() -> None:
    bodies = ["[" * 20_000 + f"\n/status c{i}" for i in range(4)]
    results = await asyncio.gather(*(parse_commands(body) for body in bodies))
    assert [[c.arguments for c in found] for found in results] == [[f"c{i}"] for i in range(4)]
    workers = [t for t in threading.enumerate() if t.name.startswith("command-parser")]
    assert len(workers) == 1
