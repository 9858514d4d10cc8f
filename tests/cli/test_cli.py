"""The `ghsa-bot` command: serve refuses without a secret, check-config, deliveries, replay."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

from bot.cli.serve import serving_loop
from bot.db.migrations import MIGRATIONS
from bot.queue.intake import signature_for
from tests.databases import has_tables
from tests.fakegithub import FakeGitHub
from tests.harness import load_payload, run_cli


async def test_serve_refuses_to_start_without_a_webhook_secret(bot_env: dict[str, str]) -> None:
    env = {**bot_env, "GITHUB_WEBHOOK_SECRET": ""}
    code, _out, err = await run_cli(env, "serve")
    assert code == 2
    assert (
        err.strip().splitlines()[-1]
        == "ghsa-bot: cannot serve webhooks: missing GITHUB_WEBHOOK_SECRET"
    )


async def test_migrate_applies_once_then_says_up_to_date(bot_env: dict[str, str]) -> None:
    code, out, err = await run_cli(bot_env, "migrate")
    assert code == 0, err
    assert out.strip().endswith(
        f"applied migrations {', '.join(map(str, range(1, len(MIGRATIONS) + 1)))}"
    )
    assert has_tables(bot_env["DATABASE_URL"])
    code, out, err = await run_cli(bot_env, "migrate")
    assert code == 0, err
    assert out.strip().endswith(f"up to date (version {len(MIGRATIONS)})")


async def test_an_unsupported_database_url_is_one_line_without_the_password(
    bot_env: dict[str, str],
) -> None:
    env = {**bot_env, "DATABASE_URL": "mysql://bot:hunter2@db.internal/ghsa"}
    code, _out, err = await run_cli(env, "migrate")
    assert code == 2
    assert (
        err.strip().splitlines()[-1].startswith("ghsa-bot: DATABASE_URL must start with sqlite:// ")
    )
    assert "hunter2" not in err and "Traceback" not in err


async def test_check_config_accepts_the_cpython_example(bot_env: dict[str, str]) -> None:
    code, out, err = await run_cli(bot_env, "check-config")
    assert code == 0, err
    assert "Python Security Response Team" in out
    assert "sources.experts: python/devguide:core-team/experts.rst (experts-rst)" in out


async def test_check_config_names_file_key_and_line(
    bot_env: dict[str, str], tmp_path: Path
) -> None:
    config = tmp_path / "config"
    config.mkdir()
    (config / "bot.toml").write_text(
        '[team]\nname = "T"\n\n[sources.roster]\nfile = "r.csv"\nformat = "csv"\n'
    )
    code, _out, err = await run_cli({**bot_env, "BOT_CONFIG": str(config)}, "check-config")
    assert code == 2
    assert f"{config}/bot.toml, line 6: sources.roster.format: expected one of psrt-csv" in err
    assert "Traceback" not in err


async def test_deliveries_lists_and_retries(
    bot_env: dict[str, str], fake_github: tuple[FakeGitHub, str], tmp_path: Path
) -> None:
    _fake, _ = fake_github
    recording = tmp_path / "delivery.json"
    payload = load_payload("installation_repositories/added.payload.json")  # unknown installation
    recording.write_text(
        json.dumps(
            {
                "request": {
                    "headers": {
                        "X-GitHub-Event": "installation_repositories",
                        "X-GitHub-Delivery": "guid-404",
                        "Content-Type": "application/json",
                    },
                    "payload": payload,
                }
            }
        )
    )
    env = {**bot_env, "BOT_MAX_ATTEMPTS": "1"}
    # GitHub's API form cannot keep the body GitHub signed: the operator vouches for it.
    code, out, err = await run_cli(env, "replay", "--no-signature-check", str(recording))
    assert code == 1
    assert "guid-404: failed" in out and "GitHub 404" in out

    code, out, err = await run_cli(env, "deliveries")
    assert code == 0
    assert "guid-404" in out and "installation_repositories.added" in out and "failed" in out

    code, out, err = await run_cli(env, "deliveries", "retry", "guid-404")
    assert code == 0 and "queued again" in out
    code, out, err = await run_cli(env, "deliveries", "retry", "no-such-guid")
    assert code == 2 and "no such delivery" in err


async def test_replay_dry_run_prints_and_changes_nothing(
    bot_env: dict[str, str], fake_github: tuple[FakeGitHub, str], tmp_path: Path
) -> None:
    fake, _ = fake_github
    payload = load_payload("installation_repositories/added.payload.json")
    payload["installation"]["id"] = fake.primary_installation  # type: ignore[attr-defined]
    body = json.dumps(payload)
    recording = tmp_path / "delivery.txt"  # as GitHub's delivery log shows it
    log = (
        "Request URL: https://bot.example/webhook\nRequest method: POST\n"
        "Accept: */*\ncontent-type: application/json\nUser-Agent: GitHub-Hookshot/abc\n"
        "X-GitHub-Delivery: 72d3162e-cc78-11e3-81ab-4c9367dc0958\n"
        "X-GitHub-Event: installation_repositories\nX-Hub-Signature-256: {signature}\n\n"
    )
    recording.write_text(log.format(signature="sha256=00") + body)
    code, _, err = await run_cli(bot_env, "replay", "--dry-run", str(recording))
    assert code == 2 and "signature does not match" in err  # a file is not trusted blindly
    signature = signature_for(body.encode(), bot_env["GITHUB_WEBHOOK_SECRET"].encode())
    recording.write_text(log.format(signature=signature) + body)
    code, out, err = await run_cli(bot_env, "replay", "--dry-run", str(recording))
    assert code == 0, err
    assert "72d3162e-cc78-11e3-81ab-4c9367dc0958: done" in out
    assert fake.mutations() == []
    assert not has_tables(bot_env["DATABASE_URL"])  # the real store was not touched


async def test_python_dash_m_and_console_script_agree() -> None:
    code, out, _ = await run_cli({}, "--help")
    assert code == 0 and "serve" in out and "replay" in out and "deliveries" in out
    script = Path(sys.executable).parent / "ghsa-bot"
    process = await asyncio.create_subprocess_exec(
        str(script), "--help", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    script_out, _ = await process.communicate()
    assert process.returncode == 0
    assert script_out.decode().replace("ghsa-bot", "") == out.replace("ghsa-bot", "")


@pytest.mark.skipif(sys.platform == "win32", reason="uvloop is not installed on Windows")
def test_the_server_runs_on_uvloop_where_it_is_installed() -> None:
    import uvloop

    loop = serving_loop()
    try:
        assert isinstance(loop, uvloop.Loop)
    finally:
        loop.close()
