"""What the bot keeps and computes about advisories: records and the audit
log, the poller, deadlines, comments posted once, coordinator choice, experts,
the report and publication checks.

Imports the layers below: `bot.core`, `bot.db`, `bot.github`, `bot.queue`,
`bot.team`.
"""
