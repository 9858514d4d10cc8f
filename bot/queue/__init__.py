"""Webhooks in, events out: intake (verify, parse), the durable delivery
queue, the worker, routing to handlers, the leader lease, missed-delivery
recovery.

Imports `bot.core`, `bot.db` and `bot.github`.
"""
