"""Find slash commands in a comment: only lines that GitHub shows as ordinary text.

What counts
-----------
A *command line* is a source line (line endings ``\\r\\n`` and ``\\r`` count as
``\\n``) that starts, after optional spaces or tabs, with ``/`` and a word
(``_COMMAND``); the rest of the line is its arguments. It runs only when the
Markdown renders it as **ordinary text at the start of a rendered line**. With
markdown-it-py configured like GitHub's GFM (``commonmark`` plus ``table`` and
``strikethrough``), that means, in the token stream:

* an ``inline`` token of a paragraph, a list item (tight or loose) or a heading
  (ATX or setext), not inside a block quote (at any depth) and not a table cell;
* a ``text`` child that is a *direct* child of that inline token: not inside
  emphasis, strong, strikethrough or a link, and not image alt text, a code
  span or raw HTML;
* that begins a rendered line: the first child, or right after a soft or hard
  line break;
* and no raw HTML before it was left open: an HTML comment, a raw-text element
  (``script``, ``style``, ``textarea``, ``title``, ``xmp``, ``iframe``,
  ``noembed``, ``noframes``, ``noscript``, ``plaintext``) or a tag that its own
  HTML block or inline tag does not close swallows the Markdown rendered after
  it into the comment, element or attribute, and what a browser makes of the
  rest is anyone's guess, so nothing after it counts (an unclosed ``<!--``
  hides everything after it, even past a later ``-->``).

So nothing in fenced code (closed or not), indented code, code spans (across
lines too), HTML blocks, raw inline tags and their attributes, HTML comments,
link text, link and image titles, image alt text, link reference definitions
(their destination or title on the next line too), block quotes or tables ever
runs. Text *between* a raw inline opening and closing tag (``<b>…</b>``) does
count: markdown-it does not pair raw tags and GitHub shows that text. A list
item's first line starts with its marker (``- /accept``), so it is not a
command line; its continuation lines (``  /accept``) are. The parser knows no
registry: it reports every command line, and the caller decides which words
are commands.

How lines are found without counting newlines
---------------------------------------------
Counting newlines in inline children drifts (markdown-it turns a code span's
newlines into spaces and exposes no link titles), so instead every command
line gets a sentinel (private-use characters around a random per-call nonce and
the candidate's index) right after its leading whitespace, the text is parsed
once, and a candidate is visible exactly when its sentinel begins a qualifying
text child. The sentinel cannot change the document's structure: a command
line starts with ``/`` and a letter, which begins no block construct, so the
sentinel (no space, punctuation or Markdown character) only sits between
leading whitespace and that ``/``; it cannot create or split an HTML block end
condition (``-->``, ``</script>``, ``?>``, ``]]>``, ``>``), a delimiter run or
a tag, and it is valid inside link destinations, titles, quoted attributes,
comments and code. The one place where text identity matters, matching a
reference link's label with its definition, ignores the sentinels
(``_References``). ``tests/commands/test_command_parser_oracle.py`` checks all of this
against markdown-it's own HTML rendering read with ``html.parser``.

Bounded work
------------
markdown-it-py is slow on some inputs. Measured on this host (markdown-it-py
4.3.0, CPython 3.11) for 64 KiB comments: ``![`` repeated 732 ms, ``[``
repeated 488 ms, ``[^`` repeated 434 ms, ``[a](`` repeated 244 ms, ``*a``
repeated 192 ms, ``a_`` repeated 177 ms, ``~~a`` repeated 125 ms, ``<``
repeated 82 ms, ``&#`` repeated 76 ms, a table with 32K one-cell rows
1,027 ms; a backtick run, ``<!--`` repeated or ``>`` nesting take under
5 ms. (The issue measured ~2 s for ``![`` on a slower host.) The sentinels
add ~20 characters per command line: 64 KiB of ``/a`` lines (21,845
candidates) parses in 0.3 s, and the benchmark's 64 KiB comment in 10 ms
(8.5 ms before). So ``parse_commands``, the handlers' door, returns ``[]``
without parsing when no line could be a command (a regular-expression
prefilter), and otherwise parses on one dedicated worker thread: the event
loop keeps running (the GIL is handed over every few milliseconds) and at
most one parse runs at a time, whatever the number of comments arriving
together.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import shlex
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from markdown_it import MarkdownIt

_MARKDOWN = MarkdownIt("commonmark").enable(["table", "strikethrough"])
_COMMAND = re.compile(r"^[ \t]*/(?P<verb>[A-Za-z][A-Za-z0-9_-]*)(?=[ \t]|$|[.])(?P<rest>.*)$")
# Any line that could be a command line (a superset of `_COMMAND`), on raw text.
_PREFILTER = re.compile(r"(?:\A|[\r\n])[ \t]*/[A-Za-z]")

parses = 0  # markdown-it parses run by this module; tests read it to see none happened

# One worker: parses never run two at a time; its thread starts on the first parse.
_EXECUTOR = ThreadPoolExecutor(max_workers=1, thread_name_prefix="command-parser")


@dataclass(frozen=True)
class CommandLine:
    position: int  # 0-based index among the comment's command lines
    line: int  # 0-based line in the comment
    verb: str  # lower case
    arguments: str
    text: str  # the line as written (stripped)

    @property
    def key(self) -> str:
        """Identifies this command in its comment, so an edit reruns only new ones."""
        return f"{self.verb} {self.arguments}".strip()


def could_have_commands(body: str) -> bool:
    """False when no line of `body` starts (after spaces) with `/` and a letter."""
    return _PREFILTER.search(body) is not None


def find_commands(body: str) -> list[CommandLine]:
    """Every command line of `body` that renders as ordinary text at a line start, in order."""
    if not could_have_commands(body):
        return []
    lines = body.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    candidates = [
        (number, match)
        for number, line in enumerate(lines)
        if (match := _COMMAND.match(line)) is not None
    ]
    if not candidates:
        return []
    shown = _visible(lines, [number for number, _ in candidates])
    found: list[CommandLine] = []
    for index, (number, match) in enumerate(candidates):
        if index not in shown:
            continue
        found.append(
            CommandLine(
                position=len(found),
                line=number,
                verb=match.group("verb").lower(),
                arguments=match.group("rest").strip(),
                text=lines[number].strip(),
            )
        )
    return found


async def parse_commands(body: str) -> list[CommandLine]:
    """`find_commands` for the comment handlers, off the event loop, one parse at a time."""
    if not could_have_commands(body):
        return []
    return await asyncio.get_running_loop().run_in_executor(_EXECUTOR, find_commands, body)


# -- which candidates are visible -----------------------------------------------------


def _visible(lines: list[str], candidates: list[int]) -> set[int]:
    """Indexes (into `candidates`) of the candidate lines that count; see the module doc."""
    global parses
    text = "\n".join(lines)
    nonce = f"{secrets.randbelow(10**15):015d}"
    while f"\ue000{nonce}" in text:  # never, unless someone guesses; then pick another
        nonce = f"{secrets.randbelow(10**15):015d}"
    marked = list(lines)
    for index, number in enumerate(candidates):
        line = lines[number]
        indent = len(line) - len(line.lstrip(" \t"))
        marked[number] = f"{line[:indent]}\ue000{nonce}\ue002{index}\ue001{line[indent:]}"
    sentinel = re.compile(f"\ue000{nonce}\ue002([0-9]+)\ue001")
    parses += 1
    tokens = _MARKDOWN.parse("\n".join(marked), _Env(sentinel))

    shown: set[int] = set()
    quotes = tables = 0
    html = _RawHtml()
    for token in tokens:
        if token.type == "blockquote_open":
            quotes += 1
        elif token.type == "blockquote_close":
            quotes -= 1
        elif token.type == "table_open":
            tables += 1
        elif token.type == "table_close":
            tables -= 1
        elif token.type == "html_block":
            html.feed(token.content)
        elif token.type == "inline":
            depth = 0  # inside emphasis, strong, strikethrough or a link
            line_start = True
            for child in token.children or []:
                if child.type == "html_inline":
                    html.feed(child.content)
                elif (
                    child.type == "text"
                    and line_start
                    and depth == 0
                    and quotes == 0
                    and tables == 0
                    and not html.hides
                ):
                    match = sentinel.match(child.content)
                    if match is not None:
                        shown.add(int(match.group(1)))
                depth += child.nesting
                line_start = child.type in ("softbreak", "hardbreak")
    return shown


class _References(dict[str, Any]):
    """Link reference definitions keyed by label with the sentinels taken out.

    A label may span lines, and a definition and its use may break it differently
    (`[a\\n/b]` uses `[a /b]: u`); the sentinel on one side only must not make them differ.
    """

    def __init__(self, sentinel: re.Pattern[str]) -> None:
        super().__init__()
        self._sentinel = sentinel

    def _key(self, label: str) -> str:
        return self._sentinel.sub("", label)

    def __contains__(self, label: object) -> bool:
        return isinstance(label, str) and super().__contains__(self._key(label))

    def __getitem__(self, label: str) -> Any:
        return super().__getitem__(self._key(label))

    def __setitem__(self, label: str, value: Any) -> None:
        super().__setitem__(self._key(label), value)

    def get(self, label: str, default: Any = None) -> Any:
        return super().get(self._key(label), default)


class _Env(dict[str, Any]):
    """markdown-it's environment, whose `references` table ignores the sentinels."""

    def __init__(self, sentinel: re.Pattern[str]) -> None:
        super().__init__()
        self._sentinel = sentinel

    def __setitem__(self, key: str, value: Any) -> None:
        if key == "references" and not isinstance(value, _References):
            table = _References(self._sentinel)
            for label, reference in dict(value).items():
                table[label] = reference
            value = table
        super().__setitem__(key, value)


# -- raw HTML: is the browser still inside a comment, a tag or a raw-text element? ----

_RAW_TEXT = frozenset(
    {"script", "style", "textarea", "title", "xmp", "iframe", "noembed", "noframes", "noscript"}
)
_SPACE = "\t\n\f\r "
_DATA, _COMMENT, _RAW, _FOREVER = range(4)  # _FOREVER: nothing after this counts


class _RawHtml:
    """Follows an HTML tokenizer (WHATWG states, simplified) over the raw HTML in order.

    Each raw HTML token (a block, or an inline tag or comment) is read on its own: a
    comment or raw-text element opened and closed inside it hides only what is inside.
    One it leaves open (a comment, a raw-text element such as `<script>`, or a tag)
    swallows the Markdown rendered after it, closing elements and opening others in
    the browser's tree, so from there on nothing counts (`_FOREVER`).
    """

    def __init__(self) -> None:
        self.state = _DATA
        self.element = ""  # the raw-text element we are in

    @property
    def hides(self) -> bool:
        return self.state != _DATA

    def feed(self, html: str) -> None:
        at, size = 0, len(html)
        while at < size and self.state != _FOREVER:
            if self.state == _COMMENT:
                ends = [e for e in (html.find("-->", at), html.find("--!>", at)) if e >= 0]
                if not ends:
                    break
                end = min(ends)
                at = end + (3 if html.startswith("-->", end) else 4)
                self.state = _DATA
            elif self.state == _RAW:
                close = re.compile(f"</{self.element}(?=[{_SPACE}/>])", re.IGNORECASE)
                found = close.search(html, at)
                if found is None:
                    break
                at = found.start()  # the end tag is read as a tag below
                self.state = _DATA
            else:
                at = self._data(html, at)
        if self.state != _DATA:
            # Left open, it swallows the Markdown rendered after it: a browser's tree
            # from there on is anyone's guess, so nothing after it counts.
            self.state = _FOREVER

    def _data(self, html: str, at: int) -> int:
        """Reads from a `<` in the data state; returns where to go on."""
        start = html.find("<", at)
        if start < 0:
            return len(html)
        rest = html[start + 1 : start + 4]
        if html.startswith("<!--", start):
            after = start + 4
            if html.startswith(">", after):  # <!--> is a whole (empty) comment
                return after + 1
            if html.startswith("->", after):  # so is <!--->
                return after + 2
            self.state = _COMMENT
            return after
        if rest[:1] in ("!", "?") or (rest[:1] == "/" and not _letter(rest[1:2])):
            if rest[:2] == "/>":  # </> is dropped
                return start + 3
            end = html.find(">", start + 2)  # a bogus comment, up to the next >
            if end < 0:
                self.state = _FOREVER
                return len(html)
            return end + 1
        closing = rest[:1] == "/"
        name_at = start + (2 if closing else 1)
        if not _letter(html[name_at : name_at + 1]):
            return start + 1  # a lone <
        tag_end = _tag_end(html, name_at)
        if tag_end is None:
            self.state = _FOREVER
            return len(html)
        if not closing:
            name = re.match(f"[^{_SPACE}/>]*", html[name_at:tag_end])
            tag = name.group(0).lower() if name else ""
            if tag == "plaintext":
                self.state = _FOREVER
            elif tag in _RAW_TEXT:
                self.state, self.element = _RAW, tag
        return tag_end


def _letter(char: str) -> bool:
    return char.isascii() and char.isalpha()


def _tag_end(html: str, at: int) -> int | None:
    """Index just after the `>` ending the tag whose name starts at `at`; None if none."""
    state, size = "name", len(html)
    while at < size:
        char = html[at]
        if state == "name":  # the tag name
            if char in _SPACE or char == "/":
                state = "before"
            elif char == ">":
                return at + 1
            at += 1
        elif state == "before":  # before an attribute name
            if char == ">":
                return at + 1
            if char in _SPACE or char == "/":
                at += 1
            else:
                state, at = "attribute", at + 1  # `=` here starts a name too
        elif state == "attribute":
            if char in _SPACE:
                state = "after"
            elif char == "/":
                state = "before"
            elif char == "=":
                state = "value"
            elif char == ">":
                return at + 1
            at += 1
        elif state == "after":  # after an attribute name
            if char == ">":
                return at + 1
            if char == "=":
                state, at = "value", at + 1
            elif char == "/":
                state, at = "before", at + 1
            elif char in _SPACE:
                at += 1
            else:
                state = "attribute"
        elif state == "value":  # before an attribute value
            if char in _SPACE:
                at += 1
            elif char in "\"'":
                close = html.find(char, at + 1)
                if close < 0:
                    return None
                state, at = "before", close + 1
            elif char == ">":
                return at + 1
            else:
                state = "unquoted"
        else:  # an unquoted attribute value
            if char in _SPACE:
                state = "before"
            elif char == ">":
                return at + 1
            at += 1
    return None


# -- arguments ------------------------------------------------------------------------


class ArgumentError(ValueError):
    pass


def split_arguments(arguments: str) -> list[str]:
    """Words and quoted strings; `@user` and `user` alike; a trailing period dropped."""
    text = arguments.strip()
    if text.endswith(".") and not text.endswith(".."):
        text = text[:-1]
    try:
        words = shlex.split(text, posix=True)
    except ValueError as error:
        raise ArgumentError(f"could not read the arguments: {error}") from None
    return words


def login(word: str) -> str:
    """`@user` or `user` → `user`; raises for anything that is not a GitHub login."""
    name = word.removeprefix("@")
    if not re.fullmatch(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})", name):
        raise ArgumentError(f"{word!r} is not a GitHub user")
    return name
