"""Configuration: the CPython example loads; every error names file, key and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core.config import ConfigError, load_config, parse_config
from tests.harness import ROOT


def test_the_shipped_cpython_example_loads() -> None:
    config = load_config(ROOT / "config")
    assert config.team.github_team == "python/psrt"
    assert set(config.sources) == {"roster", "experts", "codeowners"}
    assert config.sources["codeowners"].repository == "python/cpython"
    assert config.sources["codeowners"].path == ".github/CODEOWNERS"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[team]\nname = "T"\ncolour = "blue"\n', "line 3: unknown key 'team.colour'"),
        ('[team]\nnam = "T"\n', "line 2: unknown key 'team.nam' (did you mean 'team.name'?)"),
        ("[team]\nname = 3\n", "line 2: team.name: expected a string, got an integer"),
        (
            '[team]\nname = "T"\ngithub_team = "psrt"\n',
            "line 3: team.github_team: expected ORG/TEAM-SLUG",
        ),
        ('[tea]\nname = "T"\n', "line 1: unknown key 'tea' (did you mean 'team'?)"),
        ("[team]\n", "line 1: [team] is missing required key 'name'"),
        (
            '[team]\nname = "T"\n[sources.x]\nformat = "codeowners"\n',
            "sources.x: expected repository and path, or file",
        ),
        (
            '[team]\nname = "T"\n[sources.x]\nformat = "codeowners"\nrepository = "a/b"\n',
            "needs both repository and path",
        ),
        (
            '[team]\nname = "T"\n[sources.x]\nformat = "codeowners"\nfile = "a"\nrepository = "a/b"\npath = "p"\n',
            "not both",
        ),
        (
            '[team]\nname = "T"\n[sources.x]\nformat = "codeowners"\nfile = "a"\nrefresh_minutes = -1\n',
            "line 6: sources.x.refresh_minutes: expected a number of at least 0",
        ),
        (
            '[team]\nname = "T"\n[sources.x]\nformat = "codeowners"\nfile = "a"\nrefresh_minutes = true\n',
            "expected an integer, got a boolean",
        ),
        ("team = 1\n", "line 1: team must be a table, got an integer"),
        ('[team\nname = "T"\n', "not valid TOML"),
        ("", "missing table [team]"),
    ],
)
def test_errors_name_file_key_and_line(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, Path("config/bot.toml"))
    assert str(caught.value).startswith("config/bot.toml")
    assert message in str(caught.value)


def test_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"bot\.toml: not found"):
        load_config(tmp_path / "nowhere")


def test_local_file_sources_resolve_against_the_config_directory(tmp_path: Path) -> None:
    config = parse_config(
        '[team]\nname = "T"\n[sources.roster]\nfile = "psrt.csv"\nformat = "psrt-csv"\n',
        tmp_path / "bot.toml",
    )
    assert config.sources["roster"].file == tmp_path / "psrt.csv"
