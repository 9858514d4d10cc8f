"""A stateful fake of the CVE Program's CVE Services API (the API cvelib wraps).

Answers like CVE Services does for what the bot uses: reserving IDs
(`POST /api/cve-id`), moving a reserved ID to REJECTED (`PUT /api/cve-id/{id}`),
the organization (`GET /api/org/{short_name}`) and publishing a CNA container
(`POST`/`PUT /api/cve/{id}/cna`). Every request must carry the CNA's
`CVE-API-ORG`, `CVE-API-USER` and `CVE-API-KEY` headers; a published
container is validated against the CVE JSON 5.1.1 schema from
tests/fixtures, as CVE Services validates what it is sent.
"""

from __future__ import annotations

import itertools
import json
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
from aiohttp import web


@dataclass
class CveId:
    cve_id: str
    state: str  # RESERVED, PUBLISHED or REJECTED
    requested_by: str
    reserved: str
    container: dict[str, Any] | None = None


@dataclass
class FakeCveServices:
    org: str = "PSF"
    user: str = "psrt-bot@example.org"
    api_key: str = field(default_factory=lambda: uuid.uuid4().hex, repr=False)
    org_uuid: str = field(default_factory=lambda: str(uuid.uuid4()))
    quota: int = 100
    schema_path: Path | None = None
    ids: dict[str, CveId] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    unreachable: bool = False  # answer 503, as during maintenance
    # Answer every request with a 307 to this base URL (plus the request's path).
    redirect_to: str | None = None
    _numbers: Any = field(default_factory=lambda: itertools.count(20001))

    def web_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        app.router.add_post("/api/cve-id", self.reserve)
        app.router.add_put("/api/cve-id/{cve_id}", self.update_id)
        app.router.add_get("/api/cve-id/{cve_id}", self.show_id)
        app.router.add_get("/api/org/{short_name}", self.show_org)
        app.router.add_post("/api/cve/{cve_id}/cna", self.publish)
        app.router.add_put("/api/cve/{cve_id}/cna", self.update_record)
        return app

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append((request.method, request.path_qs))
        if self.unreachable:
            return _error(503, "SERVICE_UNAVAILABLE", "CVE Services is in maintenance")
        if self.redirect_to is not None:
            location = self.redirect_to.rstrip("/") + request.path_qs
            return web.Response(status=307, headers={"Location": location})
        if (
            request.headers.get("CVE-API-ORG") != self.org
            or request.headers.get("CVE-API-USER") != self.user
            or request.headers.get("CVE-API-KEY") != self.api_key
        ):
            return _error(401, "UNAUTHORIZED", "Unauthorized")
        response: web.StreamResponse = await handler(request)
        return response

    async def reserve(self, request: web.Request) -> web.Response:
        query = request.query
        if query.get("short_name") != self.org:
            return _error(403, "SHORTNAME_MISMATCH", "short_name does not match CVE-API-ORG")
        try:
            amount = int(query.get("amount", ""))
            year = int(query.get("cve_year", ""))
        except ValueError:
            return _error(400, "BAD_INPUT", "amount and cve_year must be integers")
        if amount < 1:
            return _error(400, "BAD_INPUT", "amount must be at least 1")
        if amount > self.quota:
            return _error(403, "EXCEEDED_ID_QUOTA", "The organization's CVE ID quota is used up")
        self.quota -= amount
        reserved = []
        for _ in range(amount):
            cve_id = f"CVE-{year}-{next(self._numbers)}"
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
            self.ids[cve_id] = CveId(cve_id, "RESERVED", self.user, stamp)
            reserved.append(self._describe(self.ids[cve_id]))
        return web.json_response({"cve_ids": reserved, "meta": {"remaining_quota": self.quota}})

    def _describe(self, entry: CveId) -> dict[str, Any]:
        return {
            "cve_id": entry.cve_id,
            "cve_year": entry.cve_id.split("-")[1],
            "owning_cna": self.org,
            "state": entry.state,
            "requested_by": {"cna": self.org, "user": entry.requested_by},
            "reserved": entry.reserved,
            "time": {"created": entry.reserved, "modified": entry.reserved},
        }

    async def show_id(self, request: web.Request) -> web.Response:
        entry = self.ids.get(request.match_info["cve_id"])
        if entry is None:
            return _error(404, "CVE_ID_DNE", "The CVE ID does not exist")
        return web.json_response(self._describe(entry))

    async def update_id(self, request: web.Request) -> web.Response:
        entry = self.ids.get(request.match_info["cve_id"])
        if entry is None:
            return _error(404, "CVE_ID_DNE", "The CVE ID does not exist")
        state = request.query.get("state")
        if state not in {"RESERVED", "REJECTED"}:
            return _error(400, "BAD_INPUT", "state must be RESERVED or REJECTED")
        if entry.state == "PUBLISHED":
            return _error(
                403, "CVE_ID_PUBLISHED", "A published CVE ID cannot change state this way"
            )
        entry.state = state
        return web.json_response(
            {
                "message": f"{entry.cve_id} was successfully updated.",
                "updated": self._describe(entry),
            }
        )

    async def show_org(self, request: web.Request) -> web.Response:
        if request.match_info["short_name"] != self.org:
            return _error(403, "NOT_SAME_ORG_OR_SECRETARIAT", "Not your organization")
        return web.json_response(
            {"short_name": self.org, "name": self.org, "UUID": self.org_uuid, "policies": {}}
        )

    async def publish(self, request: web.Request) -> web.Response:
        return await self._write_record(request, creating=True)

    async def update_record(self, request: web.Request) -> web.Response:
        return await self._write_record(request, creating=False)

    async def _write_record(self, request: web.Request, *, creating: bool) -> web.Response:
        entry = self.ids.get(request.match_info["cve_id"])
        if entry is None:
            return _error(404, "CVE_ID_DNE", "The CVE ID does not exist")
        try:
            body = json.loads(await request.text())
        except json.JSONDecodeError:
            return _error(400, "BAD_INPUT", "The body is not JSON")
        container = body.get("cnaContainer") if isinstance(body, dict) else None
        if not isinstance(container, dict):
            return _error(400, "BAD_INPUT", "cnaContainer is required")
        if creating and entry.state == "PUBLISHED":
            return _error(403, "CVE_RECORD_EXISTS", "The CVE record already exists")
        if not creating and entry.state != "PUBLISHED":
            return _error(404, "CVE_RECORD_DNE", "The CVE record does not exist")
        if entry.state == "REJECTED":
            return _error(403, "CVE_ID_REJECTED", "The CVE ID is rejected")
        problems = self._schema_problems(entry.cve_id, container)
        if problems:
            return _error(400, "BAD_INPUT", "; ".join(problems[:3]))
        entry.state, entry.container = "PUBLISHED", container
        verb = "created" if creating else "updated"
        return web.json_response(
            {"message": f"{entry.cve_id} record was successfully {verb}.", verb: container}
        )

    def _schema_problems(self, cve_id: str, container: dict[str, Any]) -> list[str]:
        if self.schema_path is None:
            return []
        record = {
            "dataType": "CVE_RECORD",
            "dataVersion": "5.1",
            "cveMetadata": {"cveId": cve_id, "assignerOrgId": self.org_uuid, "state": "PUBLISHED"},
            "containers": {"cna": container},
        }
        schema = json.loads(self.schema_path.read_text())
        validator = jsonschema.Draft7Validator(schema)
        return [error.message[:200] for error in validator.iter_errors(record)]


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": code, "message": message}, status=status)
