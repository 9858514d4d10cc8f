"""The polling and budget keys: declared with their defaults and bounds; errors name
the file, the key and the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core.config import ConfigError, load_config, parse_config
from tests.harness import ROOT

TEAM = '[team]\nname = "T"\n'


def test_defaults_and_the_shipped_example() -> None:
    config = parse_config(TEAM, Path("bot.toml"))
    assert (config.edit_sweep_minutes, config.points_per_minute) == (10, 600)
    shipped = load_config(ROOT / "config")
    assert (shipped.edit_sweep_minutes, shipped.points_per_minute) == (10, 600)
    set_ = parse_config(
        TEAM + "[poller]\nedit_sweep_minutes = 1\n[github]\npoints_per_minute = 900\n",
        Path("bot.toml"),
    )
    assert (set_.edit_sweep_minutes, set_.points_per_minute) == (1, 900)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[poller]\ninterval_seconds = 60\nedit_sweep_minutes = 0\n",
            "bot.toml, line 5: poller.edit_sweep_minutes: expected a number of at least 1; got 0",
        ),
        (
            '[poller]\nedit_sweep_minutes = "10"\n',
            "line 4: poller.edit_sweep_minutes: expected an integer, got a string",
        ),
        (
            "[github]\npoints_per_minute = 901\n",
            "line 4: github.points_per_minute: expected a number of at most 900; got 901",
        ),
        (
            "[github]\npoints_per_minute = 29\n",
            "line 4: github.points_per_minute: expected a number of at least 30; got 29",
        ),
        (
            "[github]\npoints_per_mintue = 600\n",
            "line 4: unknown key 'github.points_per_mintue' "
            "(did you mean 'github.points_per_minute'?)",
        ),
    ],
)
def test_errors_name_file_key_and_line(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config(TEAM + text, Path("bot.toml"))
    assert message in str(error.value)
