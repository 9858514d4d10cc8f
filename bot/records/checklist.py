"""The publication checklist: what must be true before an advisory goes public.

`[publish] checklist` in bot.toml picks the items (all by default); /publish
runs them and /status lists what is still missing. Each item says what is
wrong and how to fix it.

Two items read facts a collaborator cannot forge (:class:`Facts`): the
coordinator credit counts only for the coordinator the bot recorded (always a
member), and a CVE ID only when it is bound to this advisory
(bot/records/cve_ids.py), since every collaborator, the reporter too, can edit
credits and the CVE field. Neither item's answer depends on who else is
credited, so `/status` tells a reporter nothing about who is on the team.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.advisories.fixes import FixLinks
from bot.advisories.handle import AdvisoryHandle
from bot.advisories.report_check import sections
from bot.advisories.store import AdvisoryRecord
from bot.core.config import PublishConfig
from bot.records.cve_ids import Binding, CveDesk, handle_binding
from bot.records.cvss_vectors import CvssError, parse_vector


@dataclass(frozen=True)
class Check:
    item: str
    passed: bool
    detail: str  # what passed, or what is missing and how to fix it


def merged_fix_names(fixes: Sequence[tuple[str, int, str | None]]) -> list[str]:
    """ "o/r#n" of each linked fix pull request that has merged (AdvisoryStore.fixes rows)."""
    return [f"{repo}#{number}" for repo, number, commit in fixes if commit]


@dataclass(frozen=True)
class Facts:
    """What the checklist knows beyond the advisory's own (editable) fields."""

    merged_fixes: Sequence[str] = ()  # merged fix PRs, "o/r#n"
    coordinator: str | None = None  # the coordinator the bot recorded
    any_coordinator_credit: bool = False  # unsafe: any coordinator credit counts
    cve_bound: bool = False  # the advisory's CVE ID is the one the bot bound to it


async def checklist_facts(
    handle: AdvisoryHandle,
    record: AdvisoryRecord | None,
    fix_links: FixLinks,
    desk: CveDesk,
    *,
    any_coordinator_credit: bool,
) -> Facts:
    """The facts for `handle`'s advisory: merged fixes, the recorded coordinator, the
    CVE binding. `any_coordinator_credit` is the unsafe option that counts any
    coordinator credit."""
    fixes = await fix_links.fixes(handle.repository, handle.ghsa_id)
    return Facts(
        merged_fixes=merged_fix_names(fixes),
        coordinator=record.coordinator if record is not None else None,
        any_coordinator_credit=any_coordinator_credit,
        cve_bound=await handle_binding(handle, desk) is Binding.OURS,
    )


def run_checklist(
    advisory: Mapping[str, Any],
    facts: Facts,
    config: PublishConfig,
    *,
    waive_credits: bool = False,
) -> list[Check]:
    """Each configured item, in order."""
    return [_CHECKS[item](advisory, facts, config, waive_credits) for item in config.checklist]


def _cvss_v4(advisory: Mapping[str, Any], *_: Any) -> Check:
    """A CVSS 4.0 vector that the `cvss` library takes (bot/records/cvss_vectors.py): the
    records are written from it, and a collaborator can edit it."""
    vector = ((advisory.get("cvss_severities") or {}).get("cvss_v4") or {}).get("vector_string")
    if not vector:
        return Check(
            "cvss_v4", False, "no CVSS v4 vector (GitHub defaults to v3): `/cvss CVSS:4.0/...`"
        )
    try:
        parsed = parse_vector(vector)
    except CvssError as error:
        return Check(
            "cvss_v4", False, f"the CVSS v4 vector is refused ({error}): `/cvss CVSS:4.0/...`"
        )
    if parsed.version != "4.0":
        return Check(
            "cvss_v4",
            False,
            f"the CVSS v4 vector is a CVSS {parsed.version} one: `/cvss CVSS:4.0/...`",
        )
    return Check("cvss_v4", True, f"CVSS v4 vector {parsed.vector}")


def _cwe(advisory: Mapping[str, Any], *_: Any) -> Check:
    cwes = advisory.get("cwe_ids") or []
    if cwes:
        return Check("cwe", True, "CWE " + ", ".join(cwes))
    return Check("cwe", False, "no CWE: `/cwe CWE-NNN`")


def _coordinator_credit(advisory: Mapping[str, Any], facts: Facts, *_: Any) -> Check:
    """The recorded coordinator credited as coordinator.

    A credit the coordinator declined still passes: declining is theirs to do,
    the bot's record keeps who coordinated, and the line says GitHub will not
    show it.
    """
    states = {
        str(c["user"]["login"]).lower(): str(c.get("state") or "")
        for c in advisory.get("credits_detailed") or []
        if c.get("type") == "coordinator" and c.get("user")
    }
    coordinator = facts.coordinator
    if coordinator and coordinator.lower() in states:
        if states[coordinator.lower()] == "declined":
            return Check(
                "coordinator_credit",
                True,
                f"coordinator credit: @{coordinator}, who declined it "
                "(GitHub will not show it; the bot's record keeps who coordinated)",
            )
        return Check("coordinator_credit", True, f"coordinator credit: @{coordinator}")
    if facts.any_coordinator_credit and states:
        shown = ", ".join(f"@{login}" for login in sorted(states))
        return Check("coordinator_credit", True, f"coordinator credit: {shown}")
    if coordinator:
        return Check(
            "coordinator_credit",
            False,
            f"@{coordinator} coordinates but is not credited as coordinator: `/coordinate`",
        )
    return Check("coordinator_credit", False, "no coordinator: `/coordinate` or `/assign @member`")


def _merged_fix(advisory: Mapping[str, Any], facts: Facts, *_: Any) -> Check:
    merged = facts.merged_fixes
    if merged:
        return Check("merged_fix", True, "merged public fix: " + ", ".join(merged))
    return Check(
        "merged_fix", False, "no merged public fix: link it with `/fix PR-URL` (it must merge)"
    )


def _description_sections(
    advisory: Mapping[str, Any], facts: Facts, config: PublishConfig, *_: Any
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


def _cve(advisory: Mapping[str, Any], facts: Facts, *_: Any) -> Check:
    cve_id = advisory.get("cve_id")
    if cve_id and facts.cve_bound:
        return Check("cve", True, f"CVE ID {cve_id}")
    if cve_id:
        return Check(
            "cve",
            False,
            f"{cve_id} was not got for this advisory by the bot (anyone who collaborates "
            f"here can edit the CVE field): `/cve reject` takes it off, `/cve {cve_id}` "
            "records an ID the team got elsewhere",
        )
    return Check("cve", False, "no CVE ID: `/cve`")


def _credits_accepted(
    advisory: Mapping[str, Any], facts: Facts, config: PublishConfig, waive: bool
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
