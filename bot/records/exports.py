"""Build an advisory's OSV and CVE records from the bot's store, and write them.

Used by the publication handler (automatic export into `records.folder`) and
by `ghsa-bot export`. How the OSV record is named and where it goes is
`records.layout`:

- `psf-advisory-database` (the default when `records.osv_prefix` is set): the
  record psf/advisory-database takes, `advisories/<product>/PREFIX-0000-<CVE ID,
  or the GHSA id when there is none>.json` with that placeholder as its id. The
  database's own automation (osv.dev's `vulnfeeds/cmd/ids`, run by its
  `assign.yml`) gives every `PREFIX-0000-*` file the next `PREFIX-YEAR-N`; the bot
  never numbers these itself, so it cannot collide with the database's numbers.
- `osv`: `osv/ID.json`, ID the GHSA id, or with `records.osv_prefix` a
  `PREFIX-YEAR-N` the bot allocates once per advisory (bot/records/bindings.py,
  `record_ids`): only for a prefix the team owns and numbers nowhere else.

Numbers allocated by earlier versions stay in `record_ids` and are not used by the
`psf-advisory-database` layout (nothing is migrated or renumbered).

Credits carry the name on each person's GitHub profile (GET /users/{login}) when
the caller passes a GitHub client and the profile has one; the login otherwise.
"""

from __future__ import annotations

import re
import time
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gidgethub import BadRequest
from gidgethub.abc import GitHubAPI

from bot.advisories.fixes import FixLinks
from bot.core.config import RecordsConfig
from bot.records.bindings import RecordIds
from bot.records.cve_record import cve_record
from bot.records.documents import (
    Fix,
    RecordError,
    RecordInputs,
    RecordNotApplicable,
    accepted_credits,
    write_record,
)
from bot.records.osv import PSF_LAYOUT, osv_record

# psf/advisory-database's folder for each product it holds (tools/osv_utils.py's
# PRODUCT_TO_REPO, reversed); another repository's folder is its name.
PSF_PRODUCT_FOLDERS = {"python/cpython": "python", "pypa/pip": "pip"}
CVE_ID = re.compile(r"CVE-[0-9]{4}-[0-9]{4,19}")
GHSA_ID = re.compile(r"GHSA(-[0-9a-z]{4}){3}")
LOGIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})")
# A credited name: at most this many characters of the profile's name.
MAX_NAME = 100
# Bidirectional controls: they make a name read as something else (Trojan Source).
BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
# GitHub's answers for a login that has no readable profile: the credit keeps the login.
NO_PROFILE = frozenset({404, 410, 451})


@dataclass
class Exports:
    osv_id: str
    osv: dict[str, Any]
    cve: dict[str, Any] | None
    cve_missing: str = ""  # why there is no CVE record, when there is none
    written: list[Path] = field(default_factory=list)
    osv_folder: str = "osv"  # under records.folder: "osv" or "advisories/<product>"


def psf_product_folder(repository: str) -> str:
    """The advisory database's folder for the repository's product (`python` for CPython)."""
    known = PSF_PRODUCT_FOLDERS.get(repository.lower())
    if known:
        return known
    name = re.sub(r"[^a-z0-9_-]+", "-", repository.rsplit("/", 1)[-1].lower()).strip("-")
    return name[:64] or "unknown"


def placeholder_id(prefix: str, ghsa_id: str, cve_id: object) -> str:
    """PREFIX-0000-<the CVE ID, or the GHSA id>: the database allocates the real number."""
    cve = str(cve_id or "").strip().upper()
    if CVE_ID.fullmatch(cve):
        return f"{prefix}-0000-{cve}"
    if not GHSA_ID.fullmatch(ghsa_id):
        raise RecordError(f"{ghsa_id[:80]!r} is not a GHSA id")
    return f"{prefix}-0000-{ghsa_id}"


def clean_name(name: object) -> str:
    """A profile name as a credit shows it: one line, no control characters, bounded.

    Format characters stay (a zero-width joiner belongs in some scripts' names),
    except the bidirectional controls.
    """
    if not isinstance(name, str):
        return ""
    kept = "".join(
        character
        for character in " ".join(name.split())  # line breaks and tabs: one space
        if character not in BIDI_CONTROLS
        and unicodedata.category(character) not in ("Cc", "Cs", "Co", "Cn")
    )
    return " ".join(kept.split())[:MAX_NAME].strip()


async def credit_names(github: GitHubAPI | None, logins: list[str]) -> dict[str, str]:
    """login -> the name on the person's GitHub profile, for those that have one.

    A login GitHub has no profile for (404, 410, 451) keeps its login; other failures
    propagate, so a delivery is retried rather than written without the names.
    """
    names: dict[str, str] = {}
    if github is None:
        return names
    for login in dict.fromkeys(logins):
        if not LOGIN.fullmatch(login):
            continue
        try:
            user = await github.getitem(f"/users/{login}")  # a login: no "/", "?", "%"
        except BadRequest as error:
            if error.status_code in NO_PROFILE:
                continue
            raise
        if isinstance(user, Mapping) and str(user.get("login", "")).lower() == login.lower():
            name = clean_name(user.get("name"))
            if name:
                names[login] = name
    return names


async def build_exports(
    fix_links: FixLinks,
    record_ids: RecordIds,
    config: RecordsConfig,
    repository: str,
    public: Mapping[str, Any],
    *,
    org_id: str = "",
    published: bool = True,
    cve_bound: bool = True,
    github: GitHubAPI | None = None,
    related: Sequence[tuple[Sequence[str], str]] = (),
) -> Exports:
    """Both records, validated; RecordError (naming the field) if either is invalid.

    In the `osv` layout with a prefix, a `PREFIX-YEAR-N` id is allocated only for a
    published advisory; a draft exported for review keeps its GHSA id, so no number
    is spent on it. The `psf-advisory-database` layout spends none: its placeholder
    names the bound CVE ID, or the GHSA id. A CVE ID that is not bound to the advisory
    (`cve_bound` False: the bot did not get it for this one, bot/records/cve_ids.py)
    goes into neither record: no CVE record is made, the OSV record does not alias
    it, and no placeholder names it. `github`, when given, reads the credited people's
    names from their profiles. `related`: the published advisories linked with this one
    (their ids and pages), named in OSV `related` and CVE `references`.
    """
    ghsa_id = str(public["ghsa_id"])
    unbound = public.get("cve_id") if not cve_bound else None
    if unbound:
        public = {
            **public,
            "cve_id": None,
            "identifiers": [
                i for i in public.get("identifiers") or [] if i.get("type") != "CVE"
            ],
        }
    fixes = [Fix(r, n, c) for r, n, c in await fix_links.fixes(repository, ghsa_id)]
    osv_id, osv_folder = ghsa_id, "osv"
    if config.layout == PSF_LAYOUT:
        osv_id = placeholder_id(config.osv_prefix or "PSF", ghsa_id, public.get("cve_id"))
        osv_folder = f"advisories/{psf_product_folder(repository)}"
    elif config.osv_prefix and published:
        year = int(str(public.get("published_at") or "")[:4] or time.gmtime().tm_year)
        osv_id = await record_ids.record_id(config.osv_prefix, year, repository, ghsa_id)
    names = await credit_names(github, [login for login, _ in accepted_credits(public)])
    inputs = RecordInputs(repository, public, fixes, record_id=osv_id, names=names, related=related)
    osv = osv_record(inputs, layout=config.layout)
    try:
        cve: dict[str, Any] | None = cve_record(inputs, config, org_id=org_id)
        missing = ""
    except RecordNotApplicable as reason:
        cve, missing = None, str(reason)
    if unbound:
        missing = (
            f"{unbound} is on the advisory but was not got for it by the bot (anyone who "
            f"collaborates on it can edit the CVE field); `/cve {unbound}` records an ID the "
            "team got elsewhere"
        )
    return Exports(osv_id, osv, cve, missing, osv_folder=osv_folder)


def write_exports(folder: Path, exports: Exports) -> list[Path]:
    """folder/osv/ID.json (or folder/advisories/<product>/ID.json) and folder/cve/CVE-ID.json."""
    written = [write_record(folder, exports.osv_folder, exports.osv_id, exports.osv)]
    if exports.cve is not None:
        cve_id = exports.cve["cveMetadata"]["cveId"]
        written.append(write_record(folder, "cve", cve_id, exports.cve))
    exports.written = written
    return written
