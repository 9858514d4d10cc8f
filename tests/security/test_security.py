"""The defences SECURITY.md names, each proved here or in the test it points to."""

from __future__ import annotations

import ast
import inspect
import json
import re
import stat
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.commands.dispatch import MAX_COMMANDS_PER_COMMENT
from bot.core.config import MAX_CONFIG_BYTES, ConfigError, SourceConfig, load_config
from bot.core.settings import load_settings
from bot.queue import intake
from bot.team.data import MAX_SOURCE_BYTES, SourceError, read_local
from tests.conftest import free_port
from tests.harness import REPORT, ROOT, World, file_report, reported_payload
from tests.scenarios import commented, replies

EMBARGOED = 'tarfile.extractall() with filter="data" follows a symlink'


async def test_no_handler_writes_anywhere_but_the_advisory(world: World) -> None:
    """A whole workflow: every write goes to the advisory itself (or the App's own
    token endpoint), and the report's text is sent nowhere else."""
    advisory = await file_report(world.bot, world.fake, "reporter-x")
    assert EMBARGOED in REPORT
    await commented(
        world,
        advisory,
        "gpshead",
        "/accept\n/credit @alice remediation_developer\n/severity high\n/cwe CWE-22\n"
        "/assign @gpshead\n/status\n/experts\n/fork",
    )
    own = re.compile(rf"^/repos/python/cpython/security-advisories/{advisory['ghsa_id']}(/|$)")
    writes = world.fake.mutations()
    assert len(writes) >= 5, "the workflow made its changes"
    elsewhere = [f"{r.method} {r.path}" for r in writes if not own.match(r.path)]
    assert elsewhere == []
    everything_sent = [r for r in world.fake.requests if r.body is not None]
    for request in everything_sent:
        if not own.match(request.path):
            assert EMBARGOED not in json.dumps(request.body), request.path


async def test_urls_in_a_payload_are_never_fetched(world: World) -> None:
    """Every URL in a delivery points at a canary: the bot asks only GITHUB_API_URL."""
    hits: list[str] = []

    async def canary(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.json_response({})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", canary)
    server = TestServer(app, host="127.0.0.1", port=free_port())
    await server.start_server()
    try:
        bait = str(server.make_url("/bait"))
        advisory = world.fake.new_advisory(
            "python/cpython", summary="s", description=REPORT, reporter="rhea"
        )
        payload = _replace_urls(reported_payload(world.bot, advisory, "rhea"), bait)
        sent = await world.bot.send("repository_advisory", payload)
        assert sent.status == 202
        await world.bot.settle()
    finally:
        await server.close()
    assert hits == []
    comments = world.fake.comments[("python/cpython", advisory["ghsa_id"])]
    assert comments, "the report was handled, through the API"


async def test_the_pollers_internal_events_cannot_be_sent_over_http(world: World) -> None:
    """`advisory` and `advisory_comment` events come from the poller only: a signed
    delivery naming them (a leaked secret, say) cannot fake a comment's command."""
    for event in ("advisory", "advisory_comment"):
        sent = await world.bot.send(event, {"action": "updated", "installation": {"id": 1}})
        assert sent.status == 204, event
        assert await world.bot.services.store.get_delivery(sent.guid) is None


def _replace_urls(value: Any, bait: str) -> Any:
    if isinstance(value, dict):
        return {key: _replace_urls(item, bait) for key, item in value.items()}
    if isinstance(value, list):
        return [_replace_urls(item, bait) for item in value]
    if isinstance(value, str) and value.startswith(("http://", "https://")):
        return bait
    return value


def test_signatures_are_compared_in_constant_time_against_every_secret() -> None:
    tree = ast.parse(inspect.getsource(intake.verify_signature))
    calls = [ast.unparse(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)]
    assert "hmac.compare_digest" in calls
    comparisons = [ast.unparse(n) for n in ast.walk(tree) if isinstance(n, ast.Compare)]
    assert not any("expected" in c or "given_bytes" in c for c in comparisons), comparisons
    # No early exit: a loop over the secrets with no break or return inside it.
    loops = [n for n in ast.walk(tree) if isinstance(n, ast.For)]
    assert loops and not any(
        isinstance(inner, ast.Break | ast.Return) for loop in loops for inner in ast.walk(loop)
    )


def test_a_private_key_file_others_can_read_is_warned_about(tmp_path: Path) -> None:
    key = tmp_path / "app.pem"
    key.write_text("-----BEGIN RSA PRIVATE KEY-----\nx\n-----END RSA PRIVATE KEY-----\n")
    key.chmod(0o644)
    env = {
        "GITHUB_PRIVATE_KEY_FILE": str(key),
        "BOT_ENV_FILE": str(tmp_path / ".env"),
        "DATABASE_URL": f"sqlite:///{tmp_path}/db/bot.sqlite3",
    }
    warnings = load_settings(env).warnings
    assert any("readable by others" in w and f"chmod 600 {key}" in w for w in warnings)
    key.chmod(stat.S_IRUSR | stat.S_IWUSR)
    assert not load_settings(env).warnings


def test_a_configuration_file_over_the_limit_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.mkdir()
    original = (ROOT / "config" / "bot.toml").read_text()
    (config / "bot.toml").write_text(original + "#" * MAX_CONFIG_BYTES)
    with pytest.raises(ConfigError, match="a configuration file may have at most"):
        load_config(config)


def test_a_team_file_over_the_limit_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "experts.rst"
    big.write_bytes(b"x" * (MAX_SOURCE_BYTES + 1))
    source = SourceConfig(name="experts", format="experts-rst", file=big)
    with pytest.raises(SourceError, match="the limit is"):
        read_local(source)


async def test_one_comment_runs_at_most_twenty_commands(world: World) -> None:
    advisory = await file_report(world.bot, world.fake, "tom")
    body = "\n".join(f"/status {n}" for n in range(MAX_COMMANDS_PER_COMMENT + 5))
    await commented(world, advisory, "gpshead", body)
    [reply] = replies(world, advisory)
    assert reply["body"].count("Not run: one comment runs at most 20 commands") == 5
