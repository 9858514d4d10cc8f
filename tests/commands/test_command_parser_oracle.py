"""One property: the parser's commands are exactly the command lines GitHub would show.

The oracle is markdown-it-py's own HTML rendering of the same text, with the same
configuration, read with `html.parser`. Raw HTML is labelled in the rendering (the
`html_block` and `html_inline` render rules wrap it in `<x-rawblock>` / `<x-rawinline>`)
so that the oracle can tell Markdown's elements from the comment's own HTML, whose
content never counts. Raw HTML left open (a comment, a <script>, a tag) swallows what
is rendered after it, our wrapper's end tag first: from there on nothing counts. Text counts when it starts a rendered line (the start of a p,
li or h1-h6, or after a newline or a <br>) as a direct text child of p, li or h1-h6,
outside blockquote, pre, code, a, img, em, strong, del and raw HTML; a visible
command is such a text starting with `/verb`. A command must also be a command line
in the source (`- /x` renders `/x` at the start of an li, but its line starts with
`-`), which the generator knows.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict

from bot.commands import parser
from bot.commands.parser import find_commands

ADVISORY_VERBS = ["status", "accept", "credit", "reject", "cve", "publish"]
GOVERNANCE_VERBS = ["nominate", "vote", "veto", "second", "withdraw"]


def _oracle_markdown() -> MarkdownIt:
    markdown = MarkdownIt("commonmark").enable(["table", "strikethrough"])

    def raw(name: str) -> Any:
        def render(
            self: Any, tokens: Sequence[Token], index: int, options: OptionsDict, env: EnvType
        ) -> str:
            return f"<{name}>{tokens[index].content}</{name}>"

        return render

    markdown.add_render_rule("html_block", raw("x-rawblock"))
    markdown.add_render_rule("html_inline", raw("x-rawinline"))
    return markdown


ORACLE = _oracle_markdown()

LINE_ELEMENTS = {"p", "li", "h1", "h2", "h3", "h4", "h5", "h6"}
BLOCK_ELEMENTS = LINE_ELEMENTS | {"ul", "ol", "blockquote", "pre", "table", "hr"}
RAW = {"x-rawblock", "x-rawinline"}


class Oracle(HTMLParser):
    """Collects the text that starts a rendered line as a direct child of p, li or h1-6."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.raw = 0
        self.swallowed = False  # raw HTML left open ate Markdown's markup: nothing counts
        self.line_start = False
        self.lines: list[str] = []

    def handle_comment(self, data: str) -> None:
        self.swallowed = self.swallowed or "</x-raw" in data

    def handle_pi(self, data: str) -> None:  # <?…>, a bogus comment
        self.handle_comment(data)

    def handle_decl(self, decl: str) -> None:  # <!…>, one too
        self.handle_comment(decl)

    def unknown_decl(self, data: str) -> None:
        self.handle_comment(data)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.swallowed = self.swallowed or any("x-raw" in f"{k}={v}" for k, v in attrs)
        if self.swallowed:
            return
        if tag in RAW:
            self.raw += 1
        elif self.raw:
            return
        elif tag == "br":
            self.line_start = True
        elif tag not in ("img", "hr"):
            self.stack.append(tag)
            self.line_start = tag in LINE_ELEMENTS
        else:
            self.line_start = False

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.swallowed = self.swallowed or any("x-raw" in f"{k}={v}" for k, v in attrs)
        if self.swallowed or self.raw or tag in RAW:
            return
        self.line_start = tag == "br" or tag == "hr"

    def handle_endtag(self, tag: str) -> None:
        if self.swallowed:
            return
        if tag in RAW:
            self.raw -= 1
            self.line_start = tag == "x-rawblock"  # its content ends with a newline
            return
        if self.raw:
            return
        if tag in self.stack:
            while self.stack.pop() != tag:
                pass
        self.line_start = tag in BLOCK_ELEMENTS

    def handle_data(self, data: str) -> None:
        if self.raw:
            self.swallowed = self.swallowed or "</x-raw" in data  # inside <script>
        if self.raw or self.swallowed:
            return
        counts = (
            bool(self.stack) and self.stack[-1] in LINE_ELEMENTS and "blockquote" not in self.stack
        )
        for index, piece in enumerate(data.split("\n")):
            if counts and (index > 0 or self.line_start):
                self.lines.append(piece)
        self.line_start = data.endswith("\n")


def visible_ids(body: str, verbs: Sequence[str]) -> set[str]:
    oracle = Oracle()
    oracle.feed(ORACLE.render(body))  # no close(): an unclosed comment stays unread
    pattern = re.compile(rf"/({'|'.join(verbs)}) (c[0-9]+)(?![0-9])")
    return {m.group(2) for line in oracle.lines if (m := pattern.match(line))}


# -- the generator --------------------------------------------------------------------


@dataclass
class Comment:
    lines: list[str] = field(default_factory=list)
    ids: dict[str, int] = field(default_factory=dict)  # id -> its line
    verbs: dict[str, str] = field(default_factory=dict)  # id -> its verb

    def expected(self, ident: str) -> tuple[int, str, str] | None:
        """(line, verb, arguments) if the id's line is a command line, else None."""
        line = self.ids[ident]
        text = self.lines[line].lstrip(" \t")
        verb = self.verbs[ident]
        if not text.startswith(f"/{verb} "):
            return None  # `- /x`, `\/x`, `[q /x]`: the line does not start with the command
        return (line, verb, text.removeprefix(f"/{verb}").strip())


# A block is a list of lines; "{}" is where its command goes. The command's line is the
# first line starting with "{}" (else the first with "{}"); other "{}" are plain text.
BLOCKS = [
    ["{}"],
    ["{}"],
    ["Some words here.", "{}"],
    ["{}", "and more words"],
    ["Thanks, *this* is _fine_.", "{}", "more text"],
    [""],
    ["```", "{}", "```"],
    ["~~~python", "{}", "~~~"],
    ["```", "{}"],  # unclosed fence
    ["", "    {}"],  # indented code
    ["see `a", "{}", "b` done"],  # a code span over lines
    ["see ``a", "{}", "`` done"],
    ["<div>", "{}", "</div>"],
    ["<details>", "<summary>s</summary>", "{}", "</details>"],
    ["<details>", "", "{}", "", "</details>"],
    ['x <span title="', "{}", '">y</span>'],
    ["x <b>", "{}", "</b> y"],
    ["<!--", "{}", "-->"],
    ["<!--", "{}"],  # unclosed comment
    ["text <!-- a", "{}", "--> end"],
    ["<!-- a --> <!-- b", "{}"],
    ["-->"],
    ["<script>", "{}", "</script>"],
    ['[a](u "', "{}", '")'],
    ["![", "{}", "](u)"],
    ['![a](u "', "{}", '")'],
    ["[", "{}", "](u)"],
    ["[x]:", "{}"],  # a definition's destination
    ["[y]: /u", '"t', "{}", '"'],  # a definition's title
    ["[x]"],
    ["*a", "{}", "b*"],
    ["**a", "{}", "b**"],
    ["~~a", "{}", "b~~"],
    ["> a", "{}"],  # lazy continuation
    ["> > {}"],
    ["> a", ">", "> {}"],
    ["- item", "  {}"],
    ["1. item", "   {}", "2. next"],
    ["- {}"],  # renders at an li's start, but the line is not a command line
    ["# Title", "{}"],
    ["{}", "==="],  # setext heading
    ["Title", "---"],
    ["| a | b |", "|---|---|", "| c | d |", "{}"],  # a row without pipes
    ["words  ", "{}"],  # hard break (two spaces)
    ["words\\", "{}"],  # hard break (backslash)
    ["\\{}"],  # escaped: renders /x, but the line does not start with /
    ["---"],
    ["[a](", "{}", ")"],  # a link destination on the next line
    ["[q", "{}]", "", "[q {}]: /u"],  # a link label over lines, defined on one
    ["[q {}]", "", "[q", "{}]: /u"],  # and the other way round
    ["[q", "{}][r]", "", "[r]: /u"],
    ["<?php", "{}", "?>"],
    ["<![CDATA[", "{}", "]]>"],
    ["<!DOCTYPE x", "{}", ">"],
    ["a <!-- x --> b", "{}"],
    ["x <!-- a", "-->", "{}"],
    ["<http://x.y/> &amp; &#47;x", "{}"],
    ["<b>", "{}", "</b>"],  # an HTML block (a lone tag)
    ["text", "<b>", "{}"],  # inline HTML inside a paragraph
    ["{} | x", "--|--"],  # a table's header row
    ["`a", "{}"],  # an unclosed code span is text
    ["*a*", "{}"],
    ["_a", "{}", "b_ c"],
    ["***a", "{}", "b***"],
    ["[a", "{}", "b"],  # not a link
    ["a <span", 'title="x">', "{}"],
    ["<div title='a", "{}"],  # a tag left open by its HTML block
    ["<div", "title=x", "{}"],
    ["<?php", "{}"],  # left open too
    ["<!DOCTYPE x", "{}"],
]

wrappers = st.sampled_from(["", "", "", "- ", "> ", "1. ", "> - ", "- > ", "  - ", "* "])


@st.composite
def comments(draw: st.DrawFn, verbs: Sequence[str]) -> Comment:
    comment = Comment()
    for number in range(draw(st.integers(1, 8))):
        block = draw(st.sampled_from(BLOCKS))
        wrapper = draw(wrappers)
        indent = draw(st.sampled_from(["", "", " ", "  ", "   ", "    ", "\t", " \t"]))
        verb = draw(st.sampled_from(list(verbs)))
        ident = f"c{number}"
        arguments = draw(st.sampled_from(["", " @alice finder", ' bug "a note"', "."]))
        command = f"/{verb} {ident}{arguments}"
        starts = [i for i, line in enumerate(block) if line.startswith("{}")]
        holds = starts or [i for i, line in enumerate(block) if "{}" in line]
        if holds:
            comment.ids[ident] = len(comment.lines) + holds[0]
            comment.verbs[ident] = verb
        for index, line in enumerate(block):
            if line == "{}":
                line = indent + command
            line = line.replace("{}", command)
            if wrapper:
                line = (wrapper if index == 0 else " " * len(wrapper)) + line
            comment.lines.append(line)
        if draw(st.booleans()):
            comment.lines.append("")
    return comment


def render_body(comment: Comment, endings: Sequence[str]) -> str:
    out = []
    for index, line in enumerate(comment.lines):
        out.append(line)
        if index < len(comment.lines) - 1:
            ending = endings[index % len(endings)]
            if ending == "\r" and comment.lines[index + 1] == "":
                ending = "\r\n"  # "\r" + "" + "\n" would be one line ending
            out.append(ending)
    return "".join(out)


@pytest.mark.parametrize(
    "verbs", [ADVISORY_VERBS, GOVERNANCE_VERBS], ids=["advisory", "governance"]
)
@settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_commands_are_exactly_the_visible_command_lines(
    verbs: list[str], data: st.DataObject
) -> None:
    comment = data.draw(comments(verbs))
    endings = data.draw(st.lists(st.sampled_from(["\n", "\n", "\r\n", "\r"]), min_size=1))
    body = render_body(comment, endings)
    normal = body.replace("\r\n", "\n").replace("\r", "\n")
    assert normal.split("\n") == comment.lines
    shown = visible_ids(normal, verbs)
    expected = sorted(e for i in shown if (e := comment.expected(i)) is not None)
    found = [(c.line, c.verb, c.arguments) for c in find_commands(body)]
    assert found == expected, (body, sorted(shown))


def test_the_oracle_uses_the_parsers_configuration() -> None:
    assert ORACLE.get_active_rules() == parser._MARKDOWN.get_active_rules()
    assert ORACLE.options == parser._MARKDOWN.options
