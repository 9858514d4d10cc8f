"""Commands that inform: /help and /status; /cve and /publish until the records work lands."""

from __future__ import annotations

import datetime

from gidgethub import routing

from bot.commands.call import CommandCall
from bot.commands.registry import REGISTRY, CommandError, command
from bot.experts import suggest_for_team, suggestion_comment

router = routing.Router()  # commands are dispatched by handlers/comments.py

EVERYONE = ("member", "admin", "coordinator", "reporter", "collaborator")


@command(
    "help",
    usage="/help",
    description="Lists every command, who may use it, and how.",
    roles=EVERYONE,
)
async def help_command(call: CommandCall) -> str:
    return REGISTRY.help_text()


@command(
    "status",
    usage="/status",
    description="State, coordinator, age and deadline, credits, CVE, collaborators, "
    "and what is missing before publication.",
    roles=EVERYONE,
)
async def status(call: CommandCall) -> str:
    advisory, record = call.advisory, call.record
    days = call.context.config.policy.response_days
    now = call.context.clock.now()
    lines = [f"**State:** {advisory['state']}"]
    if record is not None:
        deadline = record.received_at + days * 86400
        due = datetime.datetime.fromtimestamp(deadline, datetime.UTC)
        left = int((deadline - now) // 86400)
        age = int((now - record.received_at) // 86400)
        lines.append(
            f"**Coordinator:** {('@' + record.coordinator) if record.coordinator else 'none yet'}"
        )
        lines.append(
            f"**Age:** {age} days; **deadline** {due:%Y-%m-%d} "
            + (f"({left} days left)" if left >= 0 else "(passed)")
        )
    credits = advisory.get("credits_detailed") or []
    shown = ", ".join(f"@{c['user']['login']} {c['type']} ({c['state']})" for c in credits)
    lines.append(f"**Credits:** {shown or 'none'}")
    lines.append(f"**CVE:** {advisory.get('cve_id') or 'none yet'}")
    fixes = await call.context.advisories.fixes(call.repository, call.ghsa_id)
    shown_fixes = ", ".join(
        f"{repo}#{number} ({'merged ' + commit[:10] if commit else 'not merged yet'})"
        for repo, number, commit in fixes
    )
    lines.append(f"**Fixes:** {shown_fixes or 'none linked (use /fix)'}")
    users = ", ".join("@" + u["login"] for u in advisory.get("collaborating_users") or [])
    teams = ", ".join(t["slug"] for t in advisory.get("collaborating_teams") or [])
    lines.append(f"**Collaborators:** {users or 'none'}; **teams:** {teams or 'none'}")
    missing = []
    severities = advisory.get("cvss_severities") or {}
    if not (severities.get("cvss_v4") or {}).get("vector_string"):
        missing.append("a CVSS v4 vector")
    if not advisory.get("cwe_ids"):
        missing.append("a CWE")
    if not any(c["type"] == "coordinator" for c in credits):
        missing.append("a coordinator credit")
    if not advisory.get("cve_id"):
        missing.append("a CVE ID")
    if not any(commit for _, _, commit in fixes):
        missing.append("a merged public fix")
    pending = [c["user"]["login"] for c in credits if c["state"] == "pending"]
    if pending:
        missing.append("accepted credits (pending: " + ", ".join("@" + p for p in pending) + ")")
    lines.append("**Missing before publication:** " + ("; ".join(missing) or "nothing"))
    return "\n".join(lines)


@command(
    "cve",
    usage="/cve",
    description="Reserves a CVE ID for the advisory (not available yet).",
    roles=("member", "coordinator", "admin"),
)
async def cve(call: CommandCall) -> str:
    return (
        "Not available yet: `/cve` will reserve a CVE ID (through GitHub or the team's own "
        "CNA, as configured) and set it on the advisory. Nothing was changed."
    )


@command(
    "publish",
    usage="/publish [--waive-credits]",
    description="Checks the advisory is ready to publish, and publishes it if policy allows "
    "(not available yet).",
    roles=("member", "coordinator", "admin"),
)
async def publish(call: CommandCall) -> str:
    return (
        "Not available yet: `/publish` will run the publication checklist (CVSS v4, CWE, "
        "coordinator credit, merged public fix, CVE, accepted credits) and publish when it "
        "passes. Nothing was changed."
    )


@command(
    "experts",
    usage="/experts",
    roles=("member", "coordinator", "admin"),
    description="Suggests the experts for what the report is about, again.",
)
async def experts(call: CommandCall) -> str:
    reporter = call.record.reporter if call.record else None
    exclude = {reporter} if reporter else set()
    modules, people = suggest_for_team(call.context.team, call.advisory, exclude=exclude)
    if not people:
        return "No experts found for the modules this report names."
    return suggestion_comment(modules, people)


@command(
    "ping",
    usage="/ping MODULE",
    roles=("member", "coordinator", "admin"),
    description="Mentions the experts of one module (they see the advisory only if invited).",
    examples=("/ping zipfile",),
)
async def ping(call: CommandCall) -> str:
    if len(call.arguments) != 1:
        raise CommandError("name one module", show_usage=True)
    module = call.arguments[0]
    _, people = suggest_for_team(call.context.team, {"summary": module})
    if not people:
        raise CommandError(f"no experts are listed for {module!r}")
    mentions = " ".join(f"@{p.login}" for p in people)
    return f"{mentions}: your knowledge of `{module}` is asked for here."
