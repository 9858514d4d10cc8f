"""Public records: OSV and CVE JSON 5 documents and their schemas, exports,
CVE IDs bound to advisories, CVE Services.

Imports the layers below, up to `bot.advisories`.
"""
