"""Public records of a published advisory: what OSV and CVE JSON 5 share.

The builders are bot/records/osv.py and bot/records/cve_record.py; here are
their inputs, the schemas and validation, the credit and version mappings, and
writing a record to a folder.

Both are built from the same inputs: the advisory's public fields, its linked
fix pull requests with their merge commits, and the `[records]` settings.
Only accepted credits are exported (GitHub shows a credit publicly only once
it is accepted). Every record is validated against its schema before it is
returned; one that fails raises :class:`RecordError` naming the field, and is
never written or sent.
"""

from __future__ import annotations

import functools
import json
import os
import re
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

from bot.core.private_paths import make_private_folders
from bot.records.cvss_vectors import CvssError, advisory_vectors, osv_type

OSV_SCHEMA_VERSION = "1.7.5"
CVE_DATA_VERSION = "5.1"

# GitHub's ecosystem names to OSV's (docs/github-api-facts.md §6).
OSV_ECOSYSTEMS = {
    "rubygems": "RubyGems",
    "npm": "npm",
    "pip": "PyPI",
    "maven": "Maven",
    "nuget": "NuGet",
    "composer": "Packagist",
    "go": "Go",
    "rust": "crates.io",
    "erlang": "Hex",
    "actions": "GitHub Actions",
    "pub": "Pub",
    "swift": "SwiftURL",
}
# Where each ecosystem's packages live, for a CVE record's collectionURL.
PACKAGE_REGISTRIES = {
    "rubygems": "https://rubygems.org",
    "npm": "https://www.npmjs.com",
    "pip": "https://pypi.org",
    "maven": "https://repo.maven.apache.org/maven2",
    "nuget": "https://www.nuget.org",
    "composer": "https://packagist.org",
    "go": "https://pkg.go.dev",
    "rust": "https://crates.io",
    "erlang": "https://hex.pm",
    "actions": "https://github.com/marketplace",
    "pub": "https://pub.dev",
    "swift": "https://swiftpackageindex.com",
}
CREDIT_TYPES = (
    "finder",
    "reporter",
    "analyst",
    "coordinator",
    "remediation_developer",
    "remediation_reviewer",
    "remediation_verifier",
    "tool",
    "sponsor",
    "other",
)


class RecordError(Exception):
    """A record that cannot be built or fails its schema; the message names the field."""


class RecordNotApplicable(RecordError):
    """The record cannot exist yet (no CVE ID, no CNA organization): not a schema failure."""


@dataclass(frozen=True)
class Fix:
    repository: str  # OWNER/REPO of the pull request
    number: int
    merge_commit: str | None


@dataclass(frozen=True)
class RecordInputs:
    """What a record is built from."""

    repository: str  # the advisory's repository
    advisory: Mapping[str, Any]  # public fields (bot.advisory_store.PUBLIC_FIELDS) + credits
    fixes: Sequence[Fix] = ()
    record_id: str = ""  # the OSV id; "" uses the GHSA id
    modified: str = ""  # RFC 3339; "" uses the advisory's updated_at
    extra_references: Sequence[tuple[str, str]] = field(default_factory=tuple)  # (type, url)
    # login -> the name on the person's GitHub profile, for credits (absent: the login)
    names: Mapping[str, str] = field(default_factory=dict)
    # Published advisories linked with this one (bot/advisories/links.py): (their
    # ids, their page). OSV `related` takes the ids, CVE `references` the pages.
    related: Sequence[tuple[Sequence[str], str]] = field(default_factory=tuple)


# -- schemas -----------------------------------------------------------------------------


# The schemas shipped in bot/records/schemas/ (README there): "osv" the current OSV
# schema, "psf-osv" the one psf/advisory-database's CI checks its records against.
SHIPPED_SCHEMAS = {"osv": "osv-schema.json", "psf-osv": "psf-osv-schema.json"}


@functools.cache
def _validator(kind: str) -> Any:
    if kind in SHIPPED_SCHEMAS:
        text = (
            resources.files("bot.records")
            .joinpath(f"schemas/{SHIPPED_SCHEMAS[kind]}")
            .read_text("utf-8")
        )
    else:
        text = (
            resources.files("cvelib")
            .joinpath("schemas/CVE_JSON_bundled_5.1.1.json")
            .read_text("utf-8")
        )
    schema = json.loads(text)
    validator_class = jsonschema.validators.validator_for(schema)
    checker = validator_class.FORMAT_CHECKER
    # jsonschema checks a format only when the package for it is installed, and skips it
    # silently otherwise: a record with a bad `uri` or `date-time` would pass.
    missing = unchecked_formats(schema, checker)
    if missing:
        raise RecordError(
            f"cannot check the {', '.join(missing)} formats of the {kind} schema: "
            "install rfc3339-validator and rfc3986-validator (pyproject.toml's dependencies)"
        )
    return validator_class(schema, format_checker=checker)


def unchecked_formats(schema: Any, checker: jsonschema.FormatChecker) -> list[str]:
    """The formats `schema` names that `checker` cannot check."""
    named: set[str] = set()
    pending = [schema]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            if isinstance(node.get("format"), str):
                named.add(node["format"])
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return sorted(named - set(checker.checkers))


def validate(kind: str, document: Mapping[str, Any]) -> None:
    """Raise RecordError naming the first failing field, if `document` fails its schema."""
    errors = sorted(_validator(kind).iter_errors(document), key=_error_order)
    if not errors:
        return
    error = _deepest(errors[0])
    where = field_path(error.absolute_path) or "(the record)"
    name = {"osv": "OSV", "psf-osv": "OSV (psf/advisory-database's schema)"}.get(
        kind, "CVE JSON 5"
    )
    more = f" ({len(errors) - 1} more problems)" if len(errors) > 1 else ""
    raise RecordError(f"{name} record is invalid at {where}: {_short(error.message)}{more}")


def _error_order(error: Any) -> tuple[int, str]:
    return (-len(error.absolute_path), field_path(error.absolute_path))


def _deepest(error: Any) -> Any:
    """anyOf/oneOf errors hide the useful one in their context; take the deepest."""
    if not error.context:
        return error
    return _deepest(max(error.context, key=lambda e: len(e.absolute_path)))


def _short(message: str) -> str:
    return message if len(message) <= 200 else message[:197] + "..."


def field_path(parts: Iterator[Any] | Sequence[Any]) -> str:
    """['affected', 0, 'ranges'] -> 'affected[0].ranges'."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


# -- shared pieces -----------------------------------------------------------------------


def accepted_credits(advisory: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(login, GitHub credit type) of each accepted credit, in the advisory's order."""
    found = []
    for credit in advisory.get("credits") or []:
        if credit.get("state") == "accepted" and credit.get("type") in CREDIT_TYPES:
            found.append((str(credit["login"]), str(credit["type"])))
    return found


@dataclass(frozen=True)
class VersionRange:
    introduced: str = "0"
    fixed: str | None = None
    last_affected: str | None = None


def version_range(vulnerability: Mapping[str, Any]) -> VersionRange:
    """GitHub's `vulnerable_version_range` (">= 1.0, < 1.2.3") and `patched_versions`."""
    introduced, fixed, last = "0", None, None
    for part in (vulnerability.get("vulnerable_version_range") or "").split(","):
        match = re.fullmatch(r"\s*(>=|<=|<|=)\s*(\S+)\s*", part)
        if not match:
            continue
        operator, version = match.groups()
        if operator == ">=":
            introduced = version
        elif operator == "<":
            fixed = version
        elif operator == "<=":
            last = version
        elif operator == "=":
            introduced, last = version, version
    patched = (vulnerability.get("patched_versions") or "").split(",")[0].strip()
    if patched:
        fixed, last = patched, None
    return VersionRange(introduced, fixed, last)


def merged_fixes(fixes: Sequence[Fix]) -> list[Fix]:
    return [fix for fix in fixes if fix.merge_commit]


def packages_of(advisory: Mapping[str, Any]) -> list[tuple[str, str, Mapping[str, Any]]]:
    """(GitHub ecosystem, package name, vulnerability) for each named package."""
    found = []
    for vulnerability in advisory.get("vulnerabilities") or []:
        package = vulnerability.get("package") or {}
        if package.get("name") and package.get("ecosystem"):
            found.append((str(package["ecosystem"]), str(package["name"]), vulnerability))
    return found


def require(advisory: Mapping[str, Any], name: str, why: str) -> Any:
    value = advisory.get(name)
    if not value:
        raise RecordError(f"the advisory has no {name}: {why}")
    return value


def cvss_severity(score: float) -> str:
    """CVSS's qualitative rating of a base score."""
    if score == 0:
        return "NONE"
    if score < 4:
        return "LOW"
    if score < 7:
        return "MEDIUM"
    if score < 9:
        return "HIGH"
    return "CRITICAL"


def cvss_vectors(advisory: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(OSV severity type, vector) for each CVSS vector GitHub holds, checked by the `cvss`
    library (bot/records/cvss_vectors.py) and in its canonical form; RecordError names
    the field of one that is not valid."""
    try:
        return [(osv_type(key), found.vector) for key, found in advisory_vectors(advisory)]
    except CvssError as error:
        raise RecordError(str(error)) from None


def rfc3339(stamp: str) -> str:
    """GitHub's timestamps ("2024-08-19T19:06:45Z") as OSV wants them (UTC, ending Z)."""
    if not stamp:
        raise RecordError("the advisory has no publication or update time")
    return stamp.replace("+00:00", "Z")


# -- files -------------------------------------------------------------------------------


# A record's file name is its id: OSV ids, CVE IDs. Nothing else (no "/", no "..").
RECORD_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
# The folders records go in: osv/, cve/, or a product's folder of psf/advisory-database
# (advisories/<product>/, the path its CI checks: `^advisories/[a-z0-9_-]+/.+\.json$`).
RECORD_KIND = re.compile(r"osv|cve|advisories/[a-z0-9_][a-z0-9_-]{0,63}")


def write_record(folder: Path, kind: str, name: str, record: Mapping[str, Any]) -> Path:
    """Write `record` to folder/kind/name.json atomically (a crash leaves the old file).

    The name comes from the advisory (its CVE field is editable by any collaborator),
    so it must be a plain id, and the file must land inside `folder`: RecordError if not.
    """
    if not RECORD_KIND.fullmatch(kind) or not RECORD_NAME.fullmatch(name) or ".." in name:
        raise RecordError(f"{name[:80]!r} is not a record id the bot writes files for")
    target = folder / kind / f"{name}.json"
    if not target.resolve().is_relative_to(folder.resolve()):
        raise RecordError(f"{name[:80]!r} would be written outside {folder}")
    make_private_folders(target.parent)  # each folder it creates: 0700
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{name}.", suffix=".tmp")
    with os.fdopen(handle, "w", encoding="utf-8") as output:
        json.dump(record, output, indent=2, ensure_ascii=False)
        output.write("\n")
    os.replace(temporary, target)
    return target
