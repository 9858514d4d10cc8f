"""Whom the bot names when no single person is responsible: the team."""

from __future__ import annotations

from bot.core.config import TeamConfig


def team_mention(team: TeamConfig) -> str:
    """`@org/team` when `team.github_team` is set (GitHub notifies its members);
    otherwise the team's name, which notifies nobody, never a mention of `@None`."""
    return f"@{team.github_team}" if team.github_team else team.name
