"""PEP 811 governance: nominations and ballots, their timers, the tally,
the yearly figures.

Imports the layers below, up to `bot.records`.
"""
