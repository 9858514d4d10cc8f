"""The web side: routes, hardening, sign-in and sessions, the ballot, team and
credits pages, the App's setup flow.

Imports `bot.app` (the assembled services) and everything below it; nothing
imports `bot.web` but `bot.cli`.
"""
