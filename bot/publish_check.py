"""The publication checklist: what must be true before an advisory goes public.

`[publish] checklist` in bot.toml picks the items (all by default); /publish
runs them and /status lists what is still missing. Each item says what is
wrong and how to fix it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.config import PublishConfig
from bot.report_check import sections


@dataclass(frozen=True)
class Check:
    item: str
    passed: bool
    detail: str  # what passed, or what is missing and how to fix it


def merged_fix_names(fixes: Sequence[tuple[str, int, str | None]]) -> list[str]:
    """ "o/r#n" of each linked fix pull request that has merged (AdvisoryStore.fixes rows)."""
    return [f"{repo}#{number}" for repo, number, commit in fixes if commit]


def run_checklist(
    advisory: Mapping[str, Any],
    merged_fixes: Sequence[str],
    config: PublishConfig,
    *,
    waive_credits: bool = False,
) -> list[Check]:
    """Each configured item, in order. `merged_fixes` are the merged fix PRs ("o/r#n")."""
    return [
        _CHECKS[item](advisory, merged_fixes, config, waive_credits) for item in config.checklist
    ]


def _cvss_v4(advisory: Mapping[str, Any], *_: Any) -> Check:
    vector = ((advisory.get("cvss_severities") or {}).get("cvss_v4") or {}).get("vector_string")
    if vector:
        return Check("cvss_v4", True, f"CVSS v4 vector {vector}")
    return Check(
        "cvss_v4", False, "no CVSS v4 vector (GitHub defaults to v3): `/cvss CVSS:4.0/...`"
    )


def _cwe(advisory: Mapping[str, Any], *_: Any) -> Check:
    cwes = advisory.get("cwe_ids") or []
    if cwes:
        return Check("cwe", True, "CWE " + ", ".join(cwes))
    return Check("cwe", False, "no CWE: `/cwe CWE-NNN`")


def _coordinator_credit(advisory: Mapping[str, Any], *_: Any) -> Check:
    names = [
        "@" + c["user"]["login"]
        for c in advisory.get("credits_detailed") or []
        if c.get("type") == "coordinator"
    ]
    if names:
        return Check("coordinator_credit", True, "coordinator credit: " + ", ".join(names))
    return Check(
        "coordinator_credit",
        False,
        "no coordinator credit: `/coordinate` or `/credit @x coordinator`",
    )


def _merged_fix(advisory: Mapping[str, Any], merged: Sequence[str], *_: Any) -> Check:
    if merged:
        return Check("merged_fix", True, "merged public fix: " + ", ".join(merged))
    return Check(
        "merged_fix", False, "no merged public fix: link it with `/fix PR-URL` (it must merge)"
    )


def _description_sections(
    advisory: Mapping[str, Any], merged: Sequence[str], config: PublishConfig, *_: Any
) -> Check:
    present = sections(str(advisory.get("description") or ""))
    missing = [name for name in config.description_sections if not present.get(name.lower())]
    if not advisory.get("summary"):
        missing.insert(0, "a title")
    if missing:
        return Check(
            "description_sections",
            False,
            "the description lacks " + ", ".join(missing) + " (edit the advisory)",
        )
    wanted = ", ".join(config.description_sections) or "a title"
    return Check("description_sections", True, f"description has {wanted}")


def _cve(advisory: Mapping[str, Any], *_: Any) -> Check:
    if advisory.get("cve_id"):
        return Check("cve", True, f"CVE ID {advisory['cve_id']}")
    return Check("cve", False, "no CVE ID: `/cve`")


def _credits_accepted(
    advisory: Mapping[str, Any], merged: Sequence[str], config: PublishConfig, waive: bool
) -> Check:
    waiting = [
        f"@{c['user']['login']} ({c.get('state') or 'pending'})"
        for c in advisory.get("credits_detailed") or []
        if c.get("state") != "accepted"
    ]
    if not waiting:
        return Check("credits_accepted", True, "every credit accepted")
    if waive:
        return Check(
            "credits_accepted", True, "credits not accepted, waived: " + ", ".join(waiting)
        )
    return Check(
        "credits_accepted",
        False,
        "credits not accepted: " + ", ".join(waiting) + " (or `/publish --waive-credits`)",
    )


_CHECKS = {
    "cvss_v4": _cvss_v4,
    "cwe": _cwe,
    "coordinator_credit": _coordinator_credit,
    "merged_fix": _merged_fix,
    "description_sections": _description_sections,
    "cve": _cve,
    "credits_accepted": _credits_accepted,
}


def checklist_text(checks: Sequence[Check]) -> str:
    return "\n".join(f"- [{'x' if c.passed else ' '}] {c.detail}" for c in checks)
