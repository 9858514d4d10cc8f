"""Small fakes of the other doors: the team's data, the team's CNA (CVE Services),
and the bot's record of a report as triage leaves it."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

from bot.advisories.store import AdvisoryRecord
from bot.core.config import BotConfig
from bot.team.formats import RosterEntry
from bot.team.roster import canonical_entries


def advisory_record(
    repository: str, ghsa_id: str, *, received_at: float, **fields: Any
) -> AdvisoryRecord:
    """The bot's record of a report triage saw at `received_at` (installation 7)."""
    values: dict[str, Any] = {
        "installation_id": 7,
        "state": "triage",
        "reporter": None,
        "coordinator": None,
        "received_at": received_at,
        "acknowledged_at": received_at,
        "last_activity_at": received_at,
        "github_updated_at": None,
        "fingerprint": None,
    }
    return AdvisoryRecord(repository, ghsa_id, **{**values, **fields})


class RosterTeam:
    """The part of TeamData (bot/team/data.py) commands read: `roster`, `is_member`, `get`.

    The roster is the config's canonical roster.toml, as TeamData reads it;
    `github_team` is whom GitHub's team lists besides (active members); `files` are
    parsed team files by source name (`experts`, `codeowners`). `asked` records whom
    `is_member` was asked about.
    """

    def __init__(
        self,
        config: BotConfig,
        *,
        github_team: Iterable[str] = (),
        files: Mapping[str, Any] | None = None,
    ) -> None:
        self.entries = canonical_entries(config.coordinators.roster)
        self.github_team = {login.lower() for login in github_team}
        self.files = dict(files or {})
        self.asked: list[str] = []

    def roster(self) -> list[RosterEntry]:
        return list(self.entries)

    async def is_member(self, client: Any, login: str, *, now: float) -> bool:
        self.asked.append(login)
        name = login.lower()
        return name in self.github_team or any(e.login.lower() == name for e in self.entries)

    def get(self, name: str) -> Any:
        return self.files.get(name)


class ScriptedCveServices:
    """The team's CNA (the `cve_services` door): what CveServicesClient
    (bot/records/cve_services.py) offers, answering as CVE Services does (tests/fakecve.py
    is the same over HTTP).

    `reserve` hands out CVE-YEAR-20001, -20002, ... as RESERVED, until the `quota` is used
    up (403 EXCEEDED_ID_QUOTA); `reject_reserved` moves a RESERVED ID to REJECTED;
    `publish` creates an ID's record ('created'), then updates it ('updated'); `org_id` is
    the CNA's UUID. `ids` holds each ID's state, `records` the published containers,
    `calls` each call as (method, argument).
    """

    org_uuid = "5f3e0a3c-6b53-4a5b-9c1e-2d7f0e8a9b41"

    def __init__(self, *, org: str = "PSF", quota: int = 100) -> None:
        from bot.core.settings import CveServicesCredentials

        self.credentials = CveServicesCredentials(
            url="https://cveawg.mitre.org/api",
            org=org,
            user="psrt-bot@example.org",
            api_key="unit-test key",
        )
        self.quota = quota
        self.ids: dict[str, str] = {}
        self.records: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []
        self._numbers = iter(range(20001, 10**9))

    @staticmethod
    def _refused(status: int, code: str, message: str) -> Exception:
        from bot.records.cve_services import CveServicesError

        return CveServicesError(
            f"CVE Services answered {status} {code}: {message}", status=status, code=code
        )

    async def reserve(self, year: int) -> str:
        self.calls.append(("reserve", str(year)))
        if self.quota < 1:
            raise self._refused(
                403, "EXCEEDED_ID_QUOTA", "The organization's CVE ID quota is used up"
            )
        self.quota -= 1
        cve_id = f"CVE-{year}-{next(self._numbers)}"
        self.ids[cve_id] = "RESERVED"
        return cve_id

    async def reject_reserved(self, cve_id: str) -> None:
        self.calls.append(("reject_reserved", cve_id))
        if cve_id not in self.ids:
            raise self._refused(404, "CVE_ID_DNE", "The CVE ID does not exist")
        if self.ids[cve_id] == "PUBLISHED":
            raise self._refused(
                403, "CVE_ID_PUBLISHED", "A published CVE ID cannot change state this way"
            )
        self.ids[cve_id] = "REJECTED"

    async def org_id(self) -> str:
        self.calls.append(("org_id", self.credentials.org))
        return self.org_uuid

    async def publish(self, cve_id: str, container: dict[str, Any]) -> str:
        self.calls.append(("publish", cve_id))
        state = self.ids.get(cve_id)
        if state is None:
            raise self._refused(404, "CVE_ID_DNE", "The CVE ID does not exist")
        if state == "REJECTED":
            raise self._refused(403, "CVE_ID_REJECTED", "The CVE ID is rejected")
        outcome = "updated" if state == "PUBLISHED" else "created"
        self.ids[cve_id], self.records[cve_id] = "PUBLISHED", copy.deepcopy(container)
        return outcome
