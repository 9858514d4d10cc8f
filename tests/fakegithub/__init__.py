"""The fake GitHub shared by every test: see server.py."""

from tests.fakegithub.server import FakeGitHub, Fault, RecordedRequest, generate_private_key

__all__ = ["FakeGitHub", "Fault", "RecordedRequest", "generate_private_key"]
