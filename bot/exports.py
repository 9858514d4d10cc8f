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

from bot.advisory_store import AdvisoryStore
from bot.config import RecordsConfig
from bot.records import (
    Fix,
    RecordInputs,
    RecordNotApplicable,
    cve_record,
    osv_record,
    write_record,
)


@dataclass
class Exports:
    osv_id: str
    osv: dict[str, Any]
    cve: dict[str, Any] | None
    cve_missing: str = ""  # why there is no CVE record, when there is none
    written: list[Path] = field(default_factory=list)


async def build_exports(
    advisories: AdvisoryStore,
    config: RecordsConfig,
    repository: str,
    public: Mapping[str, Any],
    *,
    org_id: str = "",
    published: bool = True,
) -> Exports:
    """Both records, validated; RecordError (naming the field) if either is invalid.

    A `PREFIX-YEAR-N` id is allocated only for a published advisory; a draft
    exported for review keeps its GHSA id, so no number is spent on it.
    """
    ghsa_id = str(public["ghsa_id"])
    fixes = [Fix(r, n, c) for r, n, c in await advisories.fixes(repository, ghsa_id)]
    osv_id = ghsa_id
    if config.osv_prefix and published:
        year = int(str(public.get("published_at") or "")[:4] or time.gmtime().tm_year)
        osv_id = await advisories.record_id(config.osv_prefix, year, repository, ghsa_id)
    inputs = RecordInputs(repository, public, fixes, record_id=osv_id)
    osv = osv_record(inputs)
    try:
        cve: dict[str, Any] | None = cve_record(inputs, config, org_id=org_id)
        missing = ""
    except RecordNotApplicable as reason:
        cve, missing = None, str(reason)
    return Exports(osv_id, osv, cve, missing)


def write_exports(folder: Path, exports: Exports) -> list[Path]:
    """folder/osv/ID.json and folder/cve/CVE-ID.json."""
    written = [write_record(folder, "osv", exports.osv_id, exports.osv)]
    if exports.cve is not None:
        cve_id = exports.cve["cveMetadata"]["cveId"]
        written.append(write_record(folder, "cve", cve_id, exports.cve))
    exports.written = written
    return written
