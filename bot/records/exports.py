"""Build an advisory's OSV and CVE records from the bot's store, and write them.

Used by the publication handler (automatic export into `records.folder`) and
by `ghsa-bot export`. The OSV id is the GHSA id, or `PREFIX-YEAR-N` allocated
once per advisory when `records.osv_prefix` is set (as the PSF numbers
`PSF-YYYY-N`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.advisories.fixes import FixLinks
from bot.core.config import RecordsConfig
from bot.records.bindings import RecordIds
from bot.records.cve_record import cve_record
from bot.records.documents import (
    Fix,
    RecordInputs,
    RecordNotApplicable,
    write_record,
)
from bot.records.osv import osv_record


@dataclass
class Exports:
    osv_id: str
    osv: dict[str, Any]
    cve: dict[str, Any] | None
    cve_missing: str = ""  # why there is no CVE record, when there is none
    written: list[Path] = field(default_factory=list)


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
) -> Exports:
    """Both records, validated; RecordError (naming the field) if either is invalid.

    A `PREFIX-YEAR-N` id is allocated only for a published advisory; a draft
    exported for review keeps its GHSA id, so no number is spent on it. A CVE ID
    that is not bound to the advisory (`cve_bound` False: the bot did not get it
    for this one, bot/records/cve_ids.py) goes into neither record: no CVE record is made
    and the OSV record does not alias it.
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
    osv_id = ghsa_id
    if config.osv_prefix and published:
        year = int(str(public.get("published_at") or "")[:4] or time.gmtime().tm_year)
        osv_id = await record_ids.record_id(config.osv_prefix, year, repository, ghsa_id)
    inputs = RecordInputs(repository, public, fixes, record_id=osv_id)
    osv = osv_record(inputs)
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
    return Exports(osv_id, osv, cve, missing)


def write_exports(folder: Path, exports: Exports) -> list[Path]:
    """folder/osv/ID.json and folder/cve/CVE-ID.json."""
    written = [write_record(folder, "osv", exports.osv_id, exports.osv)]
    if exports.cve is not None:
        cve_id = exports.cve["cveMetadata"]["cveId"]
        written.append(write_record(folder, "cve", cve_id, exports.cve))
    exports.written = written
    return written
