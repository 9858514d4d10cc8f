"""Talking to GitHub: the one HTTP client (App JWT, installation tokens,
ETags, rate limits, the credential's origin) and the installations registry.

Imports `bot.core` and `bot.db`.
"""
