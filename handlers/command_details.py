"""Commands about the vulnerability's details and its fix: severity, cvss, cwe, fork, fix.

Vectors and identifiers are validated before the PATCH; /fix links public pull
requests (only on the configured GitHub host) for crediting when they merge."""

from __future__ import annotations

import re
from typing import Protocol
from urllib.parse import urlsplit

from bot.commands.registry import TEAM, CommandError, Registry
from bot.context import CommandCall, HasFixLinks, HasUrls
from bot.records.cvss_vectors import CvssError, parse_vector

COMMANDS = Registry()


class Doors(HasFixLinks, HasUrls, Protocol):
    """What these commands use."""


SEVERITIES = ("low", "medium", "high", "critical")


@COMMANDS.command(
    "severity",
    usage="/severity low|medium|high|critical",
    roles=TEAM,
    description="Sets the severity (GitHub refuses it while a CVSS vector is set).",
)
async def severity(call: CommandCall[Doors]) -> str:
    if len(call.arguments) != 1 or call.arguments[0].lower() not in SEVERITIES:
        raise CommandError("give one severity", show_usage=True)
    if (call.advisory.get("cvss") or {}).get("vector_string"):
        raise CommandError(
            "GitHub refuses a severity while a CVSS vector is set (the severity comes from "
            "the vector); change the vector with /cvss instead"
        )
    await call.patch({"severity": call.arguments[0].lower()})
    return f"Severity set to {call.arguments[0].lower()}."


@COMMANDS.command(
    "cvss",
    usage="/cvss VECTOR",
    roles=TEAM,
    description="Sets the CVSS vector (4.0, 3.1 or 3.0, checked with the `cvss` library: "
    "a repeated, unknown or missing metric is refused; the devguide asks for 4.0).",
    examples=("/cvss CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",),
)
async def cvss(call: CommandCall[Doors]) -> str:
    if len(call.arguments) != 1:
        raise CommandError("give one vector", show_usage=True)
    try:
        vector = parse_vector(call.arguments[0])
    except CvssError as error:  # one line: what is wrong, the library's words
        raise CommandError(str(error), show_usage=True) from None
    await call.patch({"cvss_vector_string": vector.vector})
    written = "" if vector.vector == call.arguments[0] else f" Written as `{vector.vector}`."
    note = "" if vector.version == "4.0" else " The devguide asks for CVSS 4.0."
    return f"CVSS vector set.{written}{note}"


@COMMANDS.command(
    "cwe",
    usage="/cwe CWE-n...",
    roles=TEAM,
    description="Adds CWE identifiers (keeping the ones already set).",
    examples=("/cwe CWE-22 CWE-59",),
)
async def cwe(call: CommandCall[Doors]) -> str:
    wanted = [word.upper() for word in call.arguments]
    if not wanted or not all(re.fullmatch(r"CWE-[1-9][0-9]*", word) for word in wanted):
        raise CommandError("give CWE identifiers like CWE-22", show_usage=True)
    current = [str(c) for c in call.advisory.get("cwe_ids") or []]
    new = [c for c in wanted if c not in current]
    if not new:
        return "Those CWEs are already set; nothing changed."
    await call.patch({"cwe_ids": [*current, *new]})
    return "Added " + ", ".join(new) + "."


@COMMANDS.command(
    "fork",
    usage="/fork",
    roles=TEAM,
    description="Starts a temporary private fork to develop the fix in; the bot says "
    "here when GitHub has created it (up to 5 minutes).",
)
async def fork(call: CommandCall[Doors]) -> str:
    existing = call.advisory.get("private_fork")
    if existing:
        return f"The temporary private fork already exists: {existing['html_url']}"
    created = await call.client.post(f"{call.path}/forks", data=b"")
    return (
        f"Requested the temporary private fork `{created['full_name']}`. GitHub creates it "
        "asynchronously (up to 5 minutes); the bot will say here when it exists. "
        "CI does not run in temporary private forks."
    )


# GitHub's own name rules: an owner is 1-39 letters, digits and inner hyphens; a
# repository name is letters, digits, `.`, `_` and `-` (not `.` or `..`).
OWNER = r"[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}"
REPOSITORY_NAME = r"(?!\.\.?(?:[/#]|$))[A-Za-z0-9._-]{1,100}"
PULL_PATH = re.compile(rf"/({OWNER}/{REPOSITORY_NAME})/pull/([1-9][0-9]{{0,9}})/?")
PULL_SHORT = re.compile(rf"({OWNER}/{REPOSITORY_NAME})#([1-9][0-9]{{0,9}})")
MAX_PULL_NUMBER = 2**31 - 1


def pull_request(word: str, web_url: str) -> tuple[str, int] | None:
    """(OWNER/REPO, number) for a pull request URL on `web_url`'s host or `OWNER/REPO#N`."""
    match = PULL_SHORT.fullmatch(word)
    if match is None:
        parts = urlsplit(word)
        expected = urlsplit(web_url)
        if (parts.scheme, parts.netloc.lower()) != (expected.scheme, expected.netloc.lower()):
            return None
        if parts.query or parts.fragment:
            return None
        match = PULL_PATH.fullmatch(parts.path)
        if match is None:
            return None
    number = int(match.group(2))
    return (match.group(1), number) if number <= MAX_PULL_NUMBER else None


@COMMANDS.command(
    "fix",
    usage="/fix PR-URL...",
    roles=TEAM,
    description="Links the public fix pull request (and its backports): when one merges, "
    "its author is credited as remediation developer and its approving reviewers as "
    "remediation reviewers.",
    examples=("/fix https://github.com/python/cpython/pull/12345 python/cpython#12346",),
)
async def fix(call: CommandCall[Doors]) -> str:
    if not call.arguments:
        raise CommandError("give the fix's pull request", show_usage=True)
    pulls = []
    web_url = call.context.web_url
    for word in call.arguments:
        found = pull_request(word, web_url)
        if found is None:
            raise CommandError(
                f"{word[:100]!r} is not a pull request on {web_url} (give its URL, or "
                "OWNER/REPO#NUMBER)",
                show_usage=True,
            )
        pulls.append(found)
    linked = []
    for repository, number in pulls:
        if await call.context.fix_links.link_fix(call.repository, call.ghsa_id, repository, number):
            linked.append(f"{repository}#{number}")
    if not linked:
        return "Those pull requests are already linked; nothing changed."
    return (
        "Linked " + ", ".join(linked) + ". When they merge, the author is credited as "
        "remediation developer and approving reviewers as remediation reviewers."
    )
