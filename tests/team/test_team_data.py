"""The team's files come from GitHub through the contents API (ETag-cached) or from disk."""

from __future__ import annotations

import time
from pathlib import Path

from bot.core.config import parse_config
from bot.team.data import TeamData
from tests.fakegithub import FakeGitHub
from tests.harness import BotUnderTest


async def test_cpython_files_are_read_from_their_repositories(
    bot: BotUnderTest, fake_github: tuple[FakeGitHub, str]
) -> None:
    fake, _ = fake_github
    team_data = bot.services.team_data
    assert team_data is not None
    await bot.started()
    errors = await team_data.refresh_due(time.time() + 10**6)  # everything is due
    assert errors == []
    roster = team_data.get("roster")
    assert len(roster) == 31 and "warsaw" in {entry.login for entry in roster}
    experts = team_data.get("experts")
    assert any(area.name == "zipfile" for area in experts)
    codeowners = team_data.get("codeowners")
    assert codeowners and any(rule.pattern == "Lib/tarfile.py" for rule in codeowners)
    reads = fake.requests_to(r"^/repos/python/(devguide|cpython)/contents/")
    assert {r.auth for r in reads} == {f"installation:{bot.installation_id}"}

    before = len(reads)
    await team_data.refresh_due(time.time() + 2 * 10**6)
    again = fake.requests_to(r"^/repos/python/(devguide|cpython)/contents/")[before:]
    assert [r.status for r in again] == [304, 304, 304]  # unchanged: no rate limit spent


async def test_a_broken_remote_file_is_reported_and_the_rest_still_load(
    bot: BotUnderTest, fake_github: tuple[FakeGitHub, str]
) -> None:
    fake, _ = fake_github
    await bot.started()
    fake.set_content("python/devguide", "security/psrt.csv", b"Alice,not a login!,\n")
    team_data = bot.services.team_data
    assert team_data is not None
    team_data.loaded.clear()
    errors = await team_data.refresh_due(time.time() + 10**6)
    assert len(errors) == 1
    assert (
        "sources.roster" in errors[0]
        and "line 1" in errors[0]
        and "not a GitHub login" in errors[0]
    )
    assert team_data.get("experts") is not None


async def test_local_files_need_no_github(fixtures: Path, tmp_path: Path) -> None:
    config = parse_config(
        '[team]\nname = "T"\n[sources.codeowners]\n'
        f'file = "{fixtures / "cpython" / "CODEOWNERS"}"\nformat = "codeowners"\n',
        tmp_path / "bot.toml",
    )
    team_data = TeamData(config, None, None)  # type: ignore[arg-type]  # never asked: local files
    assert await team_data.refresh_due(time.time()) == []
    assert team_data.get("codeowners")
