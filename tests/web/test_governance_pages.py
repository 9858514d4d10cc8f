"""The ballot page and the public team page, in headless Chromium."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tests.browser import chromium, page_wait, require_browser
from tests.fakegithub import FakeGitHub
from tests.governance_helpers import start_governance
from tests.harness import SteppedClock, file_report


def vote_in_browser(url: str, screenshot: Path) -> tuple[str, str, str]:
    """Open the ballot (signing in through GitHub), vote yes, then change to abstain."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions

    with chromium() as driver:
        driver.get(url)  # → /auth/login → the fake's authorize page → /auth/callback → here
        wait = page_wait(driver)
        wait.until(expected_conditions.presence_of_element_located((By.ID, "cast")))
        nominee = str(driver.find_element(By.ID, "nominee").text)
        driver.find_element(By.ID, "choice-yes").click()
        driver.find_element(By.ID, "cast").click()
        first = str(
            wait.until(expected_conditions.presence_of_element_located((By.ID, "saved"))).text
        )
        assert driver.find_element(By.ID, "choice-yes").is_selected()
        saved = driver.find_element(By.ID, "saved")
        driver.find_element(By.ID, "choice-abstain").click()
        driver.find_element(By.ID, "cast").click()
        wait.until(expected_conditions.staleness_of(saved))  # the old page has gone
        wait.until(expected_conditions.text_to_be_present_in_element((By.ID, "saved"), "Abstain"))
        second = str(driver.find_element(By.ID, "saved").text)
        driver.save_screenshot(str(screenshot))
        return nominee, first, second


async def test_ballot_page_with_a_member_signed_in_through_github(
    start_bot: Any, fake_github: tuple[FakeGitHub, str], tmp_path: Path
) -> None:
    require_browser()
    fake, _ = fake_github
    gov = await start_governance(start_bot, fake, SteppedClock())
    voter = gov.members()[3]
    await gov.comment("warsaw", "/nominate @octo-newcomer reviews every ssl change")
    fake.web_user = voter
    screenshot = tmp_path / "ballot.png"
    nominee, first, second = await asyncio.to_thread(
        vote_in_browser, f"{gov.bot.url}/vote/1", screenshot
    )
    assert nominee == "@octo-newcomer"
    assert "Your ballot is recorded: Yes" in first and "Abstain" in second
    assert screenshot.stat().st_size > 0
    store = gov.bot.services.governance
    assert await store.own_ballot(1, voter) == "abstain"
    assert gov.bot_comments()[-1].count("abstain") <= 1  # nothing posted about the ballot


def read_team_page(url: str) -> tuple[int, str, str]:
    from selenium.webdriver.common.by import By

    with chromium(javascript=False) as driver:
        driver.get(url)
        rows = driver.find_elements(By.CSS_SELECTOR, "#members tbody tr")
        warsaw = next(row.text for row in rows if "@warsaw" in row.text)
        return len(rows), warsaw, str(driver.page_source)


async def test_team_page_lists_members_and_nothing_unpublished(
    start_bot: Any, fake_github: tuple[FakeGitHub, str]
) -> None:
    require_browser()
    fake, _ = fake_github
    gov = await start_governance(start_bot, fake, SteppedClock())
    embargoed = await file_report(gov.bot, fake, "reporter-x")
    count, warsaw, source = await asyncio.to_thread(read_team_page, f"{gov.bot.url}/team")
    assert count == len(gov.roster) == 31
    assert "Barry Warsaw" in warsaw and "Admin" in warsaw
    assert "Published advisories by year" in source and "Median days to publication" in source
    assert embargoed["ghsa_id"] not in source and "tarfile" not in source
    assert "Received" not in source  # counts of unpublished reports are not public
