"""requirements.lock pins, with hashes, every dependency pyproject.toml declares
(the Sentry extra included), at a version the declaration admits: a deployment
installs exactly what CI tested (`pip install --require-hashes -r requirements.lock`)."""

from __future__ import annotations

import re
import tomllib

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.harness import ROOT

PIN = re.compile(r"^([A-Za-z0-9_.-]+)==([^ ;\\]+)")


def pins() -> dict[str, tuple[str, int]]:
    """Each pinned package: its version and how many hashes it carries."""
    found: dict[str, tuple[str, int]] = {}
    current = None
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if match := PIN.match(line):
            current = canonicalize_name(match[1])
            found[current] = (match[2], 0)
        elif current and line.strip().startswith("--hash=sha256:"):
            version, hashes = found[current]
            found[current] = (version, hashes + 1)
    return found


def test_every_declared_dependency_is_pinned_with_hashes_at_an_admitted_version() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = [Requirement(text) for text in project["dependencies"]]
    declared += [Requirement(text) for text in project["optional-dependencies"]["sentry"]]
    locked = pins()
    assert len(locked) > len(declared)  # their own dependencies are pinned too
    for requirement in declared:
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{requirement.name} is declared but not in requirements.lock"
        version, hashes = locked[name]
        assert requirement.specifier.contains(version, prereleases=True), (requirement, version)
        assert hashes >= 1, f"{name} has no hash"
    assert all(hashes >= 1 for _, hashes in locked.values())
