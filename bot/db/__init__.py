"""The database: one connection per process with its thread, the SQLite and
PostgreSQL backends, the schema's migrations.

Imports `bot.core` only.
"""
