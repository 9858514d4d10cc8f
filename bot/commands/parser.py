"""Find slash commands in a comment, with a real Markdown parser.

A command is a line that starts (after optional spaces) with `/` and a word;
the rest of the line is its arguments. Lines inside fenced or indented code,
block quotes (nested too), HTML blocks and HTML comments never count, and
inline code cannot start a line that counts. Line endings are normalised
first. The parser knows no GitHub and no registry: it reports every
slash-word line, and the caller decides which words are commands.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from markdown_it import MarkdownIt

_MARKDOWN = MarkdownIt("commonmark")
_COMMAND = re.compile(r"^[ \t]*/(?P<verb>[A-Za-z][A-Za-z0-9_-]*)(?=[ \t]|$|[.])(?P<rest>.*)$")


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


def _eligible_lines(body: str) -> set[int]:
    eligible: set[int] = set()
    quote_depth = 0
    for token in _MARKDOWN.parse(body):
        if token.type == "blockquote_open":
            quote_depth += 1
        elif token.type == "blockquote_close":
            quote_depth -= 1
        elif token.type == "inline" and quote_depth == 0 and token.map is not None:
            start, end = token.map
            hidden = _lines_in_inline_html(token.children or [], start)
            eligible.update(line for line in range(start, end) if line not in hidden)
    return eligible


def _lines_in_inline_html(children: list, first_line: int) -> set[int]:  # type: ignore[type-arg]
    """Lines (after the first) covered by inline HTML that spans lines, such as comments."""
    hidden: set[int] = set()
    line = first_line
    for child in children:
        if child.type in ("softbreak", "hardbreak"):
            line += 1
        elif child.type in ("html_inline", "code_inline", "text"):
            newlines = child.content.count("\n")
            if child.type != "text":
                hidden.update(range(line + 1, line + newlines + 1))
            line += newlines
    return hidden


def find_commands(body: str) -> list[CommandLine]:
    """Every command-shaped line of `body` outside code, quotes and HTML, in order."""
    text = body.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    found: list[CommandLine] = []
    for number in sorted(_eligible_lines(text)):
        match = _COMMAND.match(lines[number])
        if match is None:
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
    """`find_commands` for the comment handlers (the one door they use)."""
    return find_commands(body)


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
