"""Process-wide basics: settings from the environment, the team's TOML
configuration, logs, metrics, the clock, keyed digests, private paths.

The bottom layer: it imports nothing else of the bot.
"""
