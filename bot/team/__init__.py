"""The team as its files describe it: the roster, the published list, the
experts index and CODEOWNERS (read where the team keeps them), roster drift,
inactivity.

Imports `bot.core`, `bot.db`, `bot.github` and `bot.queue`.
"""
