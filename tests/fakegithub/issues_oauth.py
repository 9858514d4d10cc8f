"""The fake's issues, issue comments and OAuth web flow (sign in with GitHub).

Issues and their comments are built from the recorded webhook payloads'
`issue` and `comment` objects, so they answer with GitHub's fields, and the
subset checks them like every other response. The OAuth web flow follows
GitHub's documentation for GitHub Apps' user access tokens:

- `GET /login/oauth/authorize?client_id&redirect_uri&state` redirects back
  with a one-time `code` for the user signed in at the fake (`web_user`);
- `POST /login/oauth/access_token` exchanges the code (with the client id and
  secret) for a `ghu_` token; a bad code is a 200 with an `error` field, as
  GitHub answers;
- `GET /user` with that token says who it is.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any
from urllib.parse import parse_qs, urlencode

from aiohttp import web

CODE_LIFETIME = 600.0


class IssuesAndOAuth:
    """Mixed into FakeGitHub; relies on its `_ids`, `clock`, `_user`, `fixtures`, `app`."""

    issues: dict[str, list[dict[str, Any]]]
    issue_comments: dict[tuple[str, int], list[dict[str, Any]]]
    web_user: str | None
    oauth_codes: dict[str, tuple[str, float, str]]
    user_tokens: dict[str, str]

    def _init_issues_oauth(self) -> None:
        self.issues = {}
        self.issue_comments = {}
        self.web_user = None  # who is signed in at the fake's web pages
        self.oauth_codes = {}  # code -> (login, issued at, client id)
        self.user_tokens = {}  # ghu_ token -> login

    def _fixture(self, *parts: str) -> dict[str, Any]:
        path = self.fixtures.joinpath("webhooks", *parts)  # type: ignore[attr-defined]
        return dict(json.loads(path.read_text()))

    # -- issues --------------------------------------------------------------------

    def new_issue(self, full_name: str, title: str, body: str, author: str) -> dict[str, Any]:
        issue = dict(self._fixture("issues", "opened.payload.json")["issue"])
        number = len(self.issues.setdefault(full_name, [])) + 1
        issue_id = next(self._ids)  # type: ignore[attr-defined]
        now = _iso(self.clock())  # type: ignore[attr-defined]
        api = f"https://api.github.com/repos/{full_name}/issues/{number}"
        issue.update(
            id=issue_id,
            node_id=f"I_{issue_id}",
            number=number,
            title=title,
            body=body,
            user=self._user(author),  # type: ignore[attr-defined]
            state="open",
            comments=0,
            created_at=now,
            updated_at=now,
            closed_at=None,
            url=api,
            repository_url=f"https://api.github.com/repos/{full_name}",
            comments_url=f"{api}/comments",
            events_url=f"{api}/events",
            labels_url=f"{api}/labels{{/name}}",
            html_url=f"https://github.com/{full_name}/issues/{number}",
            labels=[],
            assignees=[],
            assignee=None,
        )
        self.issues[full_name].append(issue)
        self.issue_comments[(full_name, number)] = []
        return issue

    def add_issue_comment(
        self, full_name: str, number: int, author: str, body: str
    ) -> dict[str, Any]:
        comment = dict(self._fixture("issue_comment", "created.payload.json")["comment"])
        comment_id = next(self._ids)  # type: ignore[attr-defined]
        now = _iso(self.clock())  # type: ignore[attr-defined]
        user = self._user(author)  # type: ignore[attr-defined]
        if author.endswith("[bot]"):
            user["type"] = "Bot"
        comment.update(
            id=comment_id,
            node_id=f"IC_{comment_id}",
            body=body,
            user=user,
            created_at=now,
            updated_at=now,
            url=f"https://api.github.com/repos/{full_name}/issues/comments/{comment_id}",
            html_url=f"https://github.com/{full_name}/issues/{number}#issuecomment-{comment_id}",
            issue_url=f"https://api.github.com/repos/{full_name}/issues/{number}",
        )
        self.issue_comments[(full_name, number)].append(comment)
        issue = self._issue(full_name, number)
        if issue is not None:
            issue["comments"] += 1
        return comment

    def issue_comment_payload(
        self, full_name: str, number: int, comment: dict[str, Any], installation: int
    ) -> dict[str, Any]:
        """An `issue_comment.created` webhook for a comment made on the fake."""
        payload = self._fixture("issue_comment", "created.with-installation.payload.json")
        payload["issue"] = self._issue(full_name, number)
        payload["comment"] = comment
        payload["repository"] = dict(
            self.repos[full_name]  # type: ignore[attr-defined]
        )
        payload["sender"] = comment["user"]
        payload["installation"] = {"id": installation, "node_id": "x"}
        return payload

    def _issue(self, full_name: str, number: int) -> dict[str, Any] | None:
        return next((i for i in self.issues.get(full_name, []) if i["number"] == number), None)

    def _issue_of(self, request: web.Request) -> tuple[str, dict[str, Any]] | None:
        full_name = self._repo_or_404(request)  # type: ignore[attr-defined]
        if full_name is None:
            return None
        issue = self._issue(full_name, int(request.match_info["issue_number"]))
        return None if issue is None else (full_name, issue)

    async def create_issue(self, request: web.Request) -> web.Response:
        full_name = self._repo_or_404(request)  # type: ignore[attr-defined]
        if full_name is None:
            return _not_found()
        body = _json(request)
        issue = self.new_issue(
            full_name,
            body["title"],
            body.get("body") or "",
            f"{self.app.slug}[bot]",  # type: ignore[attr-defined]
        )
        issue["user"]["type"] = "Bot"
        return web.json_response(issue, status=201)

    async def get_issue(self, request: web.Request) -> web.Response:
        found = self._issue_of(request)
        return web.json_response(found[1]) if found else _not_found()

    async def update_issue(self, request: web.Request) -> web.Response:
        found = self._issue_of(request)
        if found is None:
            return _not_found()
        issue = found[1]
        body = _json(request)
        for key in ("title", "body"):
            if key in body:
                issue[key] = body[key]
        if body.get("state") in ("open", "closed"):
            issue["state"] = body["state"]
            issue["closed_at"] = _iso(self.clock()) if body["state"] == "closed" else None  # type: ignore[attr-defined]
        issue["updated_at"] = _iso(self.clock())  # type: ignore[attr-defined]
        return web.json_response(issue)

    async def list_issue_comments(self, request: web.Request) -> web.Response:
        found = self._issue_of(request)
        if found is None:
            return _not_found()
        items = self.issue_comments[(found[0], found[1]["number"])]
        return self._paged(request, items)  # type: ignore[attr-defined,no-any-return]

    async def create_issue_comment(self, request: web.Request) -> web.Response:
        found = self._issue_of(request)
        if found is None:
            return _not_found()
        comment = self.add_issue_comment(
            found[0],
            found[1]["number"],
            f"{self.app.slug}[bot]",
            _json(request)["body"],  # type: ignore[attr-defined]
        )
        return web.json_response(comment, status=201)

    def issue_comment_bodies(self, full_name: str, number: int) -> list[str]:
        return [str(c["body"]) for c in self.issue_comments.get((full_name, number), [])]

    # -- OAuth web flow ------------------------------------------------------------

    async def oauth_authorize(self, request: web.Request) -> web.Response:
        query = request.query
        if query.get("client_id") != self.app.client_id:  # type: ignore[attr-defined]
            return web.Response(status=404, text="unknown client_id")
        if self.web_user is None:
            return web.Response(status=401, text="not signed in to the fake GitHub")
        code = secrets.token_hex(10)
        self.oauth_codes[code] = (self.web_user, time.monotonic(), query["client_id"])
        target = query["redirect_uri"]
        separator = "&" if "?" in target else "?"
        raise web.HTTPFound(
            target + separator + urlencode({"code": code, "state": query.get("state", "")})
        )

    async def oauth_access_token(self, request: web.Request) -> web.Response:
        raw = await request.read()
        if request.content_type == "application/json":
            form = {k: str(v) for k, v in json.loads(raw).items()}
        else:
            form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
        app = self.app  # type: ignore[attr-defined]
        if form.get("client_id") != app.client_id or form.get("client_secret") != app.client_secret:
            return web.json_response(
                {"error": "incorrect_client_credentials", "error_description": "bad client"}
            )
        entry = self.oauth_codes.pop(form.get("code", ""), None)
        if entry is None or time.monotonic() - entry[1] > CODE_LIFETIME:
            return web.json_response(
                {
                    "error": "bad_verification_code",
                    "error_description": "The code passed is incorrect or expired.",
                }
            )
        token = f"ghu_{secrets.token_urlsafe(30)}"
        self.user_tokens[token] = entry[0]
        return web.json_response(
            {
                "access_token": token,
                "expires_in": 28800,
                "refresh_token": f"ghr_{secrets.token_urlsafe(60)}",
                "refresh_token_expires_in": 15811200,
                "scope": "",
                "token_type": "bearer",
            }
        )

    async def authenticated_user(self, request: web.Request) -> web.Response:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        login = self.user_tokens.get(token) if scheme.lower() in ("bearer", "token") else None
        if login is None:
            return web.json_response({"message": "Requires authentication"}, status=401)
        return web.json_response(self._user(login))  # type: ignore[attr-defined,no-any-return]


def _json(request: web.Request) -> Any:
    from tests.fakegithub.server import JSON_BODY  # the server imports this module

    return request[JSON_BODY]


def _iso(timestamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))


def _not_found() -> web.Response:
    return web.json_response(
        {
            "message": "Not Found",
            "documentation_url": "https://docs.github.com/rest",
            "status": "404",
        },
        status=404,
    )
