"""Slash commands: the Markdown-aware parser, the registry, permissions. No GitHub here."""
