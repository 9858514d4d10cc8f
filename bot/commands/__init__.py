"""Slash commands: the Markdown-aware parser, the registry, permissions, the
one command loop and its replies.

Imports `bot.context` and the layers below it.
"""
