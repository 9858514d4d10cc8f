"""Check the fake's traffic against GitHub's OpenAPI description (the subset in tests/fixtures/).

Paths not in the subset (advisory comments, contents) are checked against
the schemas in this module, written from docs/github-api-facts.md.

Query parameters the subset declares are checked too (their type, enum and
bounds), and a `page` sent to a list that paginates by cursor (`before` and
`after`, like the advisory lists) is refused.

One addition to the subset's schemas, from the facts' "Advisory comments API"
section: since 2026-10-02 an advisory carries `comments`, the number of its
non-confidential comments. The subset predates it and forbids extra keys in
`repository-advisory`, so the property is added here (an integer of at least
0, not required: "If the count is missing, do not interpret it as zero").
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

USER = {
    "type": "object",
    "required": ["login", "id", "type"],
    "properties": {"login": {"type": "string"}, "id": {"type": "integer"}},
}
COMMENT = {
    "type": "object",
    "required": ["id", "body", "created_at", "updated_at", "user", "html_url", "url"],
    "properties": {
        "id": {"type": "integer"},
        "body": {"type": "string"},
        "created_at": {"type": "string"},
        "updated_at": {"type": "string"},
        "user": USER,
        "html_url": {"type": "string"},
        "url": {"type": "string"},
    },
}
COMMENT_BODY = {
    "type": "object",
    "required": ["body"],
    "additionalProperties": False,
    "properties": {"body": {"type": "string", "minLength": 1, "maxLength": 65536}},
}
CONTENT_FILE = {
    "type": "object",
    "required": ["type", "encoding", "content", "path", "sha", "size"],
}

# Any endpoint may answer these (bad credentials, rate limits, outages, API version).
UNIVERSAL_STATUSES = {401, 410, 429, 500, 502, 503, 504}

# (method, path template) -> (request schema or None, {status: response schema})
EXTRA_OPERATIONS: dict[tuple[str, str], tuple[Any, dict[int, Any]]] = {
    ("GET", "/repos/{owner}/{repo}/security-advisories/{ghsa_id}/comments"): (
        None,
        {200: {"type": "array", "items": COMMENT}},
    ),
    ("POST", "/repos/{owner}/{repo}/security-advisories/{ghsa_id}/comments"): (
        COMMENT_BODY,
        {201: COMMENT},
    ),
    ("GET", "/repos/{owner}/{repo}/security-advisories/{ghsa_id}/comments/{comment_id}"): (
        None,
        {200: COMMENT},
    ),
    ("PATCH", "/repos/{owner}/{repo}/security-advisories/{ghsa_id}/comments/{comment_id}"): (
        COMMENT_BODY,
        {200: COMMENT},
    ),
    ("GET", "/repos/{owner}/{repo}/contents/{path}"): (None, {200: CONTENT_FILE}),
    ("GET", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews"): (
        None,
        {200: {"type": "array", "items": {"type": "object", "required": ["id", "user", "state"]}}},
    ),
    ("GET", "/user"): (None, {200: USER}),
    ("GET", "/orgs/{org}/teams/{team_slug}/members"): (
        None,
        {200: {"type": "array", "items": USER}},
    ),
}


@dataclass(frozen=True)
class Operation:
    method: str
    template: str
    regex: re.Pattern[str]
    request_schema: Any
    responses: dict[int, Any]
    from_subset: bool
    query: dict[str, Any] | None = None  # name -> schema, for the subset's query parameters


def _template_regex(template: str) -> re.Pattern[str]:
    pattern = ""
    for part in re.split(r"(\{[^}]+\})", template):
        if part.startswith("{"):
            pattern += "(.+)" if part == "{path}" else "([^/]+)"
        else:
            pattern += re.escape(part)
    return re.compile("^" + pattern + "$")


class OpenAPISpec:
    def __init__(self, path: Path, *more: Path) -> None:
        """`path`'s description, with the paths and components of each of `more` added
        (cut from the same upstream file, so a component both hold is the same)."""
        self.document = json.loads(path.read_text())
        for extra in more:
            addition = json.loads(extra.read_text())
            self.document["paths"].update(addition["paths"])
            for kind, entries in addition.get("components", {}).items():
                known = self.document["components"].setdefault(kind, {})
                for name, entry in entries.items():
                    if known.setdefault(name, entry) != entry:
                        raise ValueError(f"{extra.name}: components/{kind}/{name} differs")
        advisory = self.document["components"]["schemas"]["repository-advisory"]
        advisory["properties"].setdefault(
            "comments",
            {"type": "integer", "minimum": 0, "description": "Non-confidential comments."},
        )
        # OpenAPI 3.0's `nullable` becomes JSON Schema's `anyOf [null, ...]`: the
        # OAS 3.0 validators mishandle it beside `allOf` and `enum`, where GitHub
        # really sends null (advisory `publisher`, `severity`, `private_fork`).
        converted = _json_schema(self.document)
        resource = Resource.from_contents(converted, default_specification=DRAFT7)
        self.registry: Registry[Any] = Registry().with_resource("urn:gh", resource)
        self.operations: list[Operation] = []
        for template, item in self.document["paths"].items():
            for method, operation in item.items():
                if method not in {"get", "post", "patch", "put", "delete"}:
                    continue
                self.operations.append(self._operation(method.upper(), template, operation))
        for (method, template), (request, responses) in EXTRA_OPERATIONS.items():
            self.operations.append(
                Operation(method, template, _template_regex(template), request, responses, False)
            )
        # Literal segments beat parameters: try the most specific templates first.
        self.operations.sort(key=lambda op: (op.template.count("{"), -len(op.template)))

    def _operation(self, method: str, template: str, operation: dict[str, Any]) -> Operation:
        request_schema = None
        body = operation.get("requestBody")
        if body is not None:
            body = self._deref(body)
            content = body.get("content", {}).get("application/json")
            if content is not None:
                request_schema = content.get("schema")
        responses = {}
        for status, response in operation.get("responses", {}).items():
            response = self._deref(response)
            content = response.get("content", {}).get("application/json")
            responses[int(status)] = content.get("schema") if content else None
        query = {}
        for parameter in operation.get("parameters", []):
            parameter = self._deref(parameter)
            if parameter.get("in") == "query" and "schema" in parameter:
                query[parameter["name"]] = parameter["schema"]
        return Operation(
            method, template, _template_regex(template), request_schema, responses, True, query
        )

    def _deref(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            target: Any = self.document
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            node = target
        return node

    def find(self, method: str, path: str) -> Operation | None:
        for operation in self.operations:
            if operation.method == method and operation.regex.match(path):
                return operation
        return None

    def _errors(self, schema: Any, instance: Any, from_subset: bool) -> list[str]:
        if schema is None:
            return []
        if from_subset:
            validator = Draft7Validator(_json_schema(_rebase(schema)), registry=self.registry)
        else:
            validator = Draft7Validator(schema)
        errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.path))
        return [f"{'/'.join(map(str, e.path)) or '(root)'}: {e.message[:200]}" for e in errors[:5]]

    def check_query(self, operation: Operation, query: Mapping[str, str]) -> list[str]:
        """The declared query parameters' values; `page` where the list takes cursors."""
        declared = operation.query or {}
        problems = []
        for name, text in query.items():
            if name == "page" and "after" in declared:
                problems.append("page: this list paginates with `before`/`after` cursors")
                continue
            schema = declared.get(name)
            if schema is None:
                continue  # GitHub ignores parameters it does not know
            value: Any = text
            if schema.get("type") == "integer":
                try:
                    value = int(text)
                except ValueError:
                    problems.append(f"{name}: {text!r} is not an integer")
                    continue
            elif schema.get("type") == "boolean":
                value = {"true": True, "false": False}.get(text, text)
            problems += [f"{name}: {p}" for p in self._errors(schema, value, True)]
        return problems

    def check_request(self, operation: Operation, body: Any) -> list[str]:
        return self._errors(operation.request_schema, body, operation.from_subset)

    def check_response(self, operation: Operation, status: int, body: Any) -> list[str]:
        if status not in operation.responses:
            if status in UNIVERSAL_STATUSES:
                return []
            documented = sorted(operation.responses)
            return [f"status {status} is not documented for this operation ({documented})"]
        return self._errors(operation.responses[status], body, operation.from_subset)


def _rebase(schema: Any) -> Any:
    """Point local `#/components/...` references at the registered document."""
    if isinstance(schema, dict):
        return {
            key: ("urn:gh" + value if key == "$ref" and value.startswith("#") else _rebase(value))
            for key, value in schema.items()
        }
    if isinstance(schema, list):
        return [_rebase(item) for item in schema]
    return schema


def _json_schema(node: Any) -> Any:
    if isinstance(node, list):
        return [_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: _json_schema(value) for key, value in node.items() if key != "nullable"}
    if node.get("nullable") is True:
        return {"anyOf": [{"type": "null"}, converted]}
    return converted
