"""The `ghsa-bot` command line. The top: it may import anything.
"""
