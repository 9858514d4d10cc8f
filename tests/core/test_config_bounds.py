"""Every configuration key is declared once (type, default, bounds); intervals and days
are at least 1, and `serve` refuses a configuration that breaks a bound in every mode."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from bot.core.config import (
    SCHEMA,
    SECTIONS,
    BotConfig,
    ConfigError,
    SourceConfig,
    TeamConfig,
    load_config,
    parse_config,
)
from bot.core.config_schema import Key, TableOf
from tests.harness import ROOT, run_cli

TEAM = '[team]\nname = "T"\n'


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ("poller", "interval_seconds"),
        ("poller", "edit_sweep_minutes"),
        ("deadlines", "scan_interval_seconds"),
        ("governance", "scan_interval_seconds"),
        ("governance", "vote_days"),
        ("governance", "veto_days"),
        ("policy", "response_days"),
    ],
)
def test_intervals_and_days_of_zero_are_refused_with_file_key_and_line(
    table: str, key: str
) -> None:
    text = TEAM + f"\n[{table}]\n# a comment\n{key} = 0\n"
    with pytest.raises(ConfigError) as caught:
        parse_config(text, Path("config/bot.toml"))
    assert str(caught.value) == (
        f"config/bot.toml, line 6: {table}.{key}: expected a number of at least 1; got 0"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[poller]\ninterval_seconds = 86401\n",
            "line 4: poller.interval_seconds: expected a number of at most 86400; got 86401",
        ),
        (
            "[governance]\nvote_days = 100000000000000000000\n",
            "line 4: governance.vote_days: expected a number of at most 366",
        ),
        (
            "[deadlines]\nscan_interval_seconds = -5\n",
            "line 4: deadlines.scan_interval_seconds: expected a number of at least 1; got -5",
        ),
        (
            "[coordinators]\nidle_days = -1\n",
            "line 4: coordinators.idle_days: expected a number of at least 0; got -1",
        ),
        (
            "[governance]\nquorum = -1\n",
            "line 4: governance.quorum: expected a number of at least 0; got -1",
        ),
        (
            '[poller]\ninterval_seconds = "60"\n',
            "line 4: poller.interval_seconds: expected an integer, got a string",
        ),
        ("[governance]\nvote_days = 1.5\n", "line 4: governance.vote_days: expected an integer"),
        (
            "[deadlines]\nreminder_days = [14, -3]\n",
            "line 4: deadlines.reminder_days: expected a number of at least 0; got -3",
        ),
    ],
)
def test_other_bounds_name_file_key_and_line(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(TEAM + text, Path("config/bot.toml"))
    assert str(caught.value).startswith("config/bot.toml, ")
    assert message in str(caught.value)


def test_an_inline_table_or_dotted_key_names_its_line_too() -> None:
    for text in ("poller = { interval_seconds = 0 }\n", "poller.interval_seconds = 0\n"):
        with pytest.raises(ConfigError) as caught:
            parse_config(text + TEAM, Path("config/bot.toml"))
        assert str(caught.value) == (
            "config/bot.toml, line 1: poller.interval_seconds: "
            "expected a number of at least 1; got 0"
        )


def test_zero_is_kept_where_it_means_something() -> None:
    config = parse_config(
        TEAM + "[coordinators]\nidle_days = 0\n"  # assign at once
        "[governance]\nroster_check_hours = 0\nquorum = 0\n"  # no roster check; no quorum
        "[deadlines]\nreminder_days = [0]\nmin_hours_between_reminders = 0\n",
        Path("bot.toml"),
    )
    assert config.coordinators.idle_days == 0
    assert config.governance.roster_check_hours == 0
    assert config.deadlines.reminder_days == (0,)


def test_the_smallest_intervals_and_days_load() -> None:
    config = parse_config(
        TEAM + "[poller]\ninterval_seconds = 1\n[deadlines]\nscan_interval_seconds = 1\n"
        "[governance]\nvote_days = 1\nveto_days = 1\nscan_interval_seconds = 1\n"
        "[policy]\nresponse_days = 1\n",
        Path("bot.toml"),
    )
    assert config.poll_interval_seconds == 1
    assert config.deadlines.scan_interval_seconds == 1
    assert (config.governance.vote_days, config.governance.veto_days) == (1, 1)
    assert config.governance.scan_interval_seconds == 1
    assert config.policy.response_days == 1


def _declared_keys() -> list[tuple[str, str, Key]]:
    found = []
    for table, spec in SCHEMA.items():
        keys = spec.keys if isinstance(spec, TableOf) else spec
        assert isinstance(keys, dict)
        found += [(table, name, key) for name, key in keys.items()]
    return found


def test_each_key_is_declared_once_with_its_default_and_bounds() -> None:
    """The schema is read from the dataclasses: each key's default is its field's, and a
    file that sets nothing gets exactly those defaults."""
    declared = _declared_keys()
    assert len(declared) == len({(table, name) for table, name, _ in declared})
    fields = {
        (table, one.name): one
        for table, section in {**SECTIONS, "sources": SourceConfig}.items()
        for one in dataclasses.fields(section)
    }
    renamed = {
        ("poller", "interval_seconds"): "poll_interval_seconds",
        ("poller", "edit_sweep_minutes"): "edit_sweep_minutes",
        ("github", "points_per_minute"): "points_per_minute",
        ("title_tags", "mode"): "title_tags",
        ("experts", "tag"): "experts_tag",
        ("coordinators", "roster_file"): "roster",
    }
    top = {one.name: one for one in dataclasses.fields(BotConfig)}
    for table, name, key in declared:
        if (table, name) in renamed and renamed[table, name] in top:
            default = top[renamed[table, name]].default
        else:
            where = (table, renamed.get((table, name), name))
            default = fields[where].default
        if key.required:
            assert default is dataclasses.MISSING, (table, name)
        else:
            assert default == key.default, (table, name)
    # A key whose value sets a timer has a lower bound.
    for table, name, key in declared:
        if name.endswith(("_seconds", "_minutes")) or name in {"vote_days", "veto_days"}:
            assert key.minimum is not None and key.minimum >= (
                0 if name == "refresh_minutes" else 1
            ), (table, name)
    bare = parse_config(TEAM, Path("bot.toml"))
    assert bare == BotConfig(directory=Path("."), team=TeamConfig(name="T"))
    assert (bare.poll_interval_seconds, bare.governance.vote_days) == (60, 7)


def test_the_shipped_example_is_within_every_bound() -> None:
    config = load_config(ROOT / "config")
    assert config.poll_interval_seconds == 60
    assert config.governance.vote_days == 7
    assert config.deadlines.scan_interval_seconds == 300


def _broken_config(tmp_path: Path) -> tuple[Path, int]:
    folder = tmp_path / "broken-config"
    folder.mkdir()
    text = (ROOT / "config" / "bot.toml").read_text()
    assert "\nvote_days = 7\n" in text
    (folder / "bot.toml").write_text(text.replace("\nvote_days = 7\n", "\nvote_days = 0\n"))
    line = text.split("\nvote_days = 7\n")[0].count("\n") + 2
    return folder, line


@pytest.mark.parametrize(
    ("mode", "arguments"),
    [
        ("check-config", ("check-config",)),
        ("serve", ("serve",)),
        ("serve --dry-run", ("serve", "--dry-run")),
        ("setup mode", ("serve",)),
    ],
)
async def test_serve_refuses_a_broken_config_in_every_mode(
    bot_env: dict[str, str], tmp_path: Path, mode: str, arguments: tuple[str, ...]
) -> None:
    folder, line = _broken_config(tmp_path)
    env = {**bot_env, "BOT_CONFIG": str(folder), "PORT": "0"}
    if mode == "setup mode":  # no App credentials
        env.update(dict.fromkeys(("GITHUB_APP_ID", "GITHUB_CLIENT_ID", "GITHUB_PRIVATE_KEY"), ""))
    code, _out, err = await run_cli(env, *arguments)
    assert code == 2, err
    assert err.strip().splitlines()[-1] == (
        f"ghsa-bot: {folder}/bot.toml, line {line}: governance.vote_days: "
        "expected a number of at least 1; got 0"
    )
    assert "Traceback" not in err and "setup?token" not in err
