"""The canonical roster: drift against the CSV and the team, export; the inactivity report."""

from __future__ import annotations

import datetime
import time
from pathlib import Path
from typing import Any

from bot.advisories.public import PublishedAdvisory
from bot.advisories.store import AdvisoryRecord
from bot.governance.statistics import year_statistics
from tests.fakegithub import FakeGitHub
from tests.governance_helpers import GOVERNANCE, start_governance
from tests.harness import SteppedClock, run_cli


async def test_export_csv_writes_the_published_list_byte_for_byte(
    bot_env: dict[str, str], fixtures: Path
) -> None:
    code, out, err = await run_cli(bot_env, "roster", "export", "csv")
    assert code == 0, err
    assert out == (fixtures / "cpython" / "psrt.csv").read_text(encoding="utf-8")
    code, out, _ = await run_cli(bot_env, "roster", "export", "csv", "--emeritus")
    assert out == (fixtures / "cpython" / "psrt-emeritus.csv").read_text(encoding="utf-8")


async def test_import_then_export_gives_the_published_files_back(
    bot_env: dict[str, str], fixtures: Path
) -> None:
    cpython = fixtures / "cpython"
    code, out, err = await run_cli(
        bot_env,
        "roster",
        "import",
        "csv",
        str(cpython / "psrt.csv"),
        "--emeritus",
        str(cpython / "psrt-emeritus.csv"),
    )
    assert code == 0, err
    assert "canonical = true" in out and '{ name = "Jesse Noller" }' in out
    (Path(bot_env["BOT_CONFIG"]) / "roster.toml").write_text(out, encoding="utf-8")
    code, exported, err = await run_cli(bot_env, "roster", "export", "csv")
    assert code == 0 and exported == (cpython / "psrt.csv").read_text(encoding="utf-8"), err
    broken = Path(bot_env["BOT_CONFIG"]) / "broken.csv"
    broken.write_text("Name Only\n", encoding="utf-8")
    code, _, err = await run_cli(bot_env, "roster", "import", "csv", str(broken))
    assert code == 2 and "line 1: expected: name, GitHub login, notes" in err


async def test_roster_drift_between_the_toml_the_csv_and_the_team(
    start_bot: Any, fake_github: tuple[FakeGitHub, str], bot_env: dict[str, str]
) -> None:
    fake, _ = fake_github
    roster_file = Path(bot_env["BOT_CONFIG"]) / "roster.toml"
    text = roster_file.read_text(encoding="utf-8")
    # The TOML: a new member, and AA-Turner made an admin.
    text = text.replace('name = "Adam Turner"', 'name = "Adam Turner"\nroles = ["Admin"]')
    text += '\n[members.octo-newcomer]\nname = "Octo Newcomer"\n'
    roster_file.write_text(text, encoding="utf-8")
    # The CSV: one line gone.
    csv = (fake.contents[("python/devguide", "security/psrt.csv")]).decode()
    csv = "".join(line for line in csv.splitlines(keepends=True) if ",picnixz," not in line)
    fake.set_content("python/devguide", "security/psrt.csv", csv.encode())
    gov = await start_governance(start_bot, fake, SteppedClock())
    # The team: everyone in the roster but sethmlarson (start_with_team), plus an extra.
    team = fake.team_members[("python", "psrt")]
    team.pop("octo-newcomer", None)
    team["old-friend"] = "active"

    code, out, err = await run_cli(bot_env, "roster", "check")
    assert code == 1, err
    expected = [
        "@octo-newcomer: is in",
        "but not in the GitHub team python/psrt",
        "@old-friend: is in the GitHub team python/psrt but not in",
        "@sethmlarson: is in",
        "@picnixz: is in",
        "but not in the published list python/devguide:security/psrt.csv",
        "add the line `Bénédikt Tran,picnixz,` to python/devguide:security/psrt.csv",
        "@AA-Turner: has roles 'Admin' in",
        # GitHub's web host (GITHUB_WEB_URL, here the fake's), not github.com
        f"{bot_env['GITHUB_WEB_URL']}/orgs/python/teams/psrt/members",
    ]
    for fragment in expected:
        assert fragment in out, (fragment, out)

    # The daily job tells the admins in the governance repository, once per change
    # (the first check ran at start, before the team changed).
    gov.clock.advance(86400)
    await gov.scan()
    [issue] = [i for i in fake.issues[GOVERNANCE] if i["title"] == "Roster drift"]
    comments = fake.issue_comment_bodies(GOVERNANCE, issue["number"])
    assert "@old-friend" in comments[-1] and "@warsaw" in comments[-1]  # admins mentioned
    gov.clock.advance(86400)
    await gov.scan()
    assert fake.issue_comment_bodies(GOVERNANCE, issue["number"]) == comments  # unchanged
    team["octo-newcomer"] = "active"
    team.pop("old-friend")
    gov.clock.advance(86400)
    await gov.scan()
    latest = fake.issue_comment_bodies(GOVERNANCE, issue["number"])
    assert len(latest) == len(comments) + 1 and "@old-friend" not in latest[-1]


async def test_inactivity_report_on_a_fixture_history_with_an_exempt_member(
    start_bot: Any, fake_github: tuple[FakeGitHub, str], bot_env: dict[str, str]
) -> None:
    fake, _ = fake_github
    config = Path(bot_env["BOT_CONFIG"]) / "bot.toml"
    today = datetime.datetime.now(datetime.UTC).date()
    text = config.read_text().replace('"01-15"', f'"{today:%m-%d}"')
    config.write_text(text)
    old = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 400 * 86400))
    # gpshead coordinated a report this year; ewdurbin only commented; a comment by
    # sethmlarson from 400 days ago does not count; hugovk (a release manager) did nothing.
    coordinated = fake.new_advisory("python/cpython", summary="secret s", description="d")
    coordinated["credits_detailed"] = [
        {"user": fake._user("gpshead"), "type": "coordinator", "state": "accepted"}
    ]
    commented = fake.new_advisory("python/cpython", summary="secret t", description="d")
    fake.add_advisory_comment("python/cpython", commented["ghsa_id"], "ewdurbin", "Looking.")
    stale = fake.add_advisory_comment("python/cpython", commented["ghsa_id"], "sethmlarson", "x")
    stale["created_at"] = stale["updated_at"] = old
    gov = await start_governance(start_bot, fake, SteppedClock())
    await gov.scan()
    [issue] = [i for i in fake.issues[GOVERNANCE] if i["title"].startswith("Inactivity report")]
    report = issue["body"]
    rows = {line.split("(@")[1].split(")")[0]: line for line in report.splitlines() if "(@" in line}
    assert coordinated["ghsa_id"] in rows["gpshead"] and rows["gpshead"].endswith("| active |")
    assert commented["ghsa_id"] in rows["ewdurbin"] and rows["ewdurbin"].endswith("| active |")
    assert rows["hugovk"].endswith("| exempt (release manager) |")
    assert rows["sethmlarson"].endswith("| inactive |")
    inactive = next(line for line in report.splitlines() if line.startswith("**Inactive"))
    assert "@sethmlarson" in inactive and "@gpshead" not in inactive and "@hugovk" not in inactive
    assert "secret" not in report  # advisories by id and date only
    await gov.scan()  # once a year, not once a scan
    assert len([i for i in fake.issues[GOVERNANCE] if "Inactivity" in i["title"]]) == 1


def test_year_statistics_and_the_public_view() -> None:
    def at(day: str) -> float:
        return datetime.datetime.fromisoformat(day + "T00:00:00+00:00").timestamp()

    def record(ghsa: str, received: str, state: str, **times: float) -> AdvisoryRecord:
        return AdvisoryRecord(
            "python/cpython",
            ghsa,
            1,
            state,
            "r",
            "c",
            at(received),
            None,
            at(received),
            None,
            None,
            **times,
        )

    records = [
        record(
            "GHSA-a",
            "2026-01-01",
            "published",
            human_acknowledged_at=at("2026-01-02"),
            coordinator_since=at("2026-01-04"),
            completed_at=at("2026-01-31"),
        ),
        record("GHSA-b", "2026-02-01", "closed", human_acknowledged_at=at("2026-02-04")),
        record("GHSA-c", "2026-03-01", "draft"),  # still open, unpublished
    ]
    published = [
        PublishedAdvisory(
            "python/cpython",
            "GHSA-a",
            {
                "published_at": "2026-01-31T00:00:00Z",
                "credits": [
                    {"login": "x", "type": "reporter", "state": "accepted"},
                    {"login": "y", "type": "coordinator", "state": "accepted"},
                ],
            },
        )
    ]
    now = at("2026-11-21")
    team = year_statistics(2026, records, published, response_days=90, now=now)
    assert (team.received, team.accepted, team.rejected, team.published) == (3, 2, 1, 1)
    assert team.median_days_to_acknowledgement == 2.0  # 1 and 3 days
    assert team.median_days_to_publication == 30.0
    assert team.past_deadline == 1  # GHSA-c, open for 265 days
    assert team.credits_by_type == {"coordinator": 1, "reporter": 1}
    public = year_statistics(
        2026, records, published, response_days=90, now=now, published_only=True
    )
    assert public.received == 1 and public.past_deadline == 0
    assert "Received" not in dict(public.rows())
