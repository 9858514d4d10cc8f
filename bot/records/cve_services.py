"""A client for the CVE Program's CVE Services REST API (what cvelib wraps).

The team is its own CNA: it reserves CVE IDs, rejects ones it no longer
needs, and publishes CVE records' CNA containers. Credentials (the CNA's org
short name, a user and that user's API key) come from the environment and are
sent only to the configured CVE Services URL; they never appear in logs.
Redirects are never followed: a 3xx is an error, so the key never reaches
another host and no other host's answer is taken for CVE Services'.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import aiohttp

from bot.core.logs import fields
from bot.core.settings import CveServicesCredentials

log = logging.getLogger("ghsa_bot.cve_services")



class CveServicesError(Exception):
    """CVE Services refused or could not be reached; the message says which and why."""

    def __init__(self, message: str, *, status: int | None = None, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code




class CveServicesClient:
    """Reserve, reject and publish CVE IDs of one CNA."""

    def __init__(self, session: aiohttp.ClientSession, credentials: CveServicesCredentials) -> None:
        self.session = session
        self.credentials = credentials
        self._org_id: str | None = None

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        headers = {
            "CVE-API-ORG": self.credentials.org,
            "CVE-API-USER": self.credentials.user,
            "CVE-API-KEY": self.credentials.api_key,
        }
        url = f"{self.credentials.url.rstrip('/')}/{path}"
        try:
            async with self.session.request(
                method, url, params=params, json=body, headers=headers, allow_redirects=False
            ) as response:
                text = await response.text()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as error:
            raise CveServicesError(
                f"could not reach CVE Services ({type(error).__name__})"
            ) from None
        if 300 <= status < 400:
            log.warning(
                "CVE Services redirected; not followed",
                extra=fields(method=method, path=path, status=status),
            )
            raise CveServicesError(
                f"CVE Services answered {status}, a redirect the bot does not follow "
                "(the API key goes only to CVE_SERVICES_URL)",
                status=status,
                code="REDIRECT",
            )
        try:
            answer = json.loads(text) if text else {}
        except json.JSONDecodeError:
            answer = {}
        if status >= 400:
            code = str(answer.get("error") or "")
            message = str(answer.get("message") or text[:200] or "no message")
            log.warning(
                "CVE Services refused", extra=fields(method=method, path=path, status=status)
            )
            raise CveServicesError(
                f"CVE Services answered {status} {code}: {message}".replace("  ", " "),
                status=status,
                code=code,
            )
        return answer if isinstance(answer, dict) else {}

    async def reserve(self, year: int) -> str:
        """Reserve one CVE ID for `year`; returns it (state RESERVED)."""
        answer = await self._request(
            "POST",
            "cve-id",
            params={"amount": "1", "cve_year": str(year), "short_name": self.credentials.org},
        )
        ids = answer.get("cve_ids") or []
        if not ids or not ids[0].get("cve_id"):
            raise CveServicesError("CVE Services reserved nothing (no cve_ids in its answer)")
        return str(ids[0]["cve_id"])

    async def reject_reserved(self, cve_id: str) -> None:
        """Move a RESERVED ID to REJECTED (possible only while no record is published)."""
        await self._request("PUT", f"cve-id/{cve_id}", params={"state": "REJECTED"})

    async def org_id(self) -> str:
        """The CNA's organization UUID, for records' providerMetadata (asked once)."""
        if self._org_id is None:
            answer = await self._request("GET", f"org/{self.credentials.org}")
            if not answer.get("UUID"):
                raise CveServicesError("CVE Services did not say the organization's UUID")
            self._org_id = str(answer["UUID"])
        return self._org_id

    async def publish(self, cve_id: str, container: dict[str, Any]) -> str:
        """Publish (or, if published before, update) the CNA container; 'created' or 'updated'."""
        body = {"cnaContainer": container}
        try:
            await self._request("POST", f"cve/{cve_id}/cna", body=body)
            return "created"
        except CveServicesError as error:
            if error.code != "CVE_RECORD_EXISTS":
                raise
        await self._request("PUT", f"cve/{cve_id}/cna", body=body)
        return "updated"
