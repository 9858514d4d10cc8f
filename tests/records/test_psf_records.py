"""Records that drop straight into psf/advisory-database (issue 17).

That database's CI checks every `advisories/<product>/*.json` with
check-jsonschema against its pinned OSV schema (1.5.0: severity `CVSS_V2` and
`CVSS_V3` only), and its own automation numbers each `PSF-0000-*` file. Driven end
to end: the bot runs on CPython's configuration (`osv_prefix = "PSF"`), commands
are advisory comments the poller reads from the fake GitHub, the people's names
come from the fake's GET /users/{username}, and the records are read from disk.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from bot.core.config import ConfigError, parse_config
from bot.records.documents import RecordError
from bot.records.exports import (
    Exports,
    clean_name,
    placeholder_id,
    psf_product_folder,
    write_exports,
)
from tests.conftest import StartBot
from tests.fakecve import FakeCveServices
from tests.fakegithub import FakeGitHub
from tests.harness import World, file_report, world_with
from tests.scenarios import commented, configure, last_reply, merged_payload

ROOT = Path(__file__).resolve().parents[2]
CVSS3 = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"
CVSS4 = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:L/SC:N/SI:N/SA:N"
MAIN_FIX = "d662e2db2605515a767f88ad48096b8ac623c774"
BACKPORT = "795f2597a4be988e2bb19b69ff9958e981cb894e"
ISSUE = "https://github.com/python/cpython/issues/122905"
FORMATS = jsonschema.Draft202012Validator.FORMAT_CHECKER


def validator(fixtures: Path, name: str) -> Any:
    schema = json.loads((fixtures / "schemas" / name).read_text())
    return jsonschema.Draft202012Validator(schema, format_checker=FORMATS)


def the_only_record(folder: Path) -> tuple[Path, dict[str, Any]]:
    """The one OSV record under `folder` (wherever the layout put it)."""
    [path] = [p for p in folder.rglob("*.json") if "cve" not in p.relative_to(folder).parts]
    return path, json.loads(path.read_text())


def accept_credits(advisory: dict[str, Any]) -> None:
    """What credited people do on GitHub's page (there is no API for it)."""
    for credit in advisory["credits_detailed"]:
        credit["state"] = "accepted"


async def merge(world: World, number: int, sha: str) -> None:
    payload = merged_payload(world, number, "fixer")
    payload["pull_request"]["merge_commit_sha"] = sha
    await world.bot.send("pull_request", payload)
    await world.bot.settle()


async def published_with_backports(world: World, reporter: str) -> dict[str, Any]:
    """Accepted (a CVE ID reserved), v3 and v4 vectors, a fix and its backport merged."""
    advisory = await file_report(world.bot, world.fake, reporter)
    await commented(world, advisory, "gpshead", "/accept")
    await commented(world, advisory, "gpshead", f"/cvss {CVSS3}")
    await commented(world, advisory, "gpshead", f"/cvss {CVSS4}")
    await commented(world, advisory, "gpshead", "/cwe CWE-400")
    await commented(world, advisory, "gpshead", "/coordinate")
    web = world.bot.services.settings.web_url
    for number, sha in ((4242, MAIN_FIX), (4243, BACKPORT)):
        await commented(world, advisory, "gpshead", f"/fix {web}/python/cpython/pull/{number}")
        await merge(world, number, sha)
    # The reporter edits their own advisory: links to the project's issue (twice), and
    # links elsewhere that must not become typed references.
    advisory["description"] += (
        f"\n\nReported upstream as {ISSUE} (see also {ISSUE}).\n"
        "Mirror: https://github.com/evil/cpython/issues/5 and https://evil.example/issues/7\n"
    )
    accept_credits(advisory)
    await commented(world, advisory, "gpshead", "/publish")
    await world.bot.settle()
    assert "Published." in last_reply(world, advisory)
    return advisory


async def test_a_published_advisory_becomes_a_placeholder_the_database_takes(
    start_bot: StartBot,
    fake_github: tuple[FakeGitHub, str],
    fake_cve: tuple[FakeCveServices, dict[str, str]],
    bot_env: dict[str, str],
    fixtures: Path,
    tmp_path: Path,
) -> None:
    _, env = fake_cve
    configure(bot_env, lambda t: t.replace("bot_may_publish = false", "bot_may_publish = true"))
    world = await world_with(start_bot, fake_github, **env)
    # Profiles: one with a name (and the tricks a reporter can put in their own), one
    # with a plain name, one with none.
    world.fake.profile_names["eve"] = "  Eve\u202e  Example\n\x00"
    world.fake.profile_names["gpshead"] = "Gregory P. Smith"
    advisory = await published_with_backports(world, "eve")
    cve_id, ghsa_id = advisory["cve_id"], advisory["ghsa_id"]

    folder = tmp_path / "var" / "records"
    path, osv = the_only_record(folder)
    # The file and the id are the database's placeholder; the bot numbered nothing.
    assert path.relative_to(folder).as_posix() == f"advisories/python/PSF-0000-{cve_id}.json"
    assert osv["id"] == f"PSF-0000-{cve_id}" and osv["aliases"] == [cve_id, ghsa_id]
    assert not (folder / "osv").exists()
    # It passes the database's own check and the current OSV schema, formats included.
    assert not FORMATS.conforms("not a uri", "uri")  # the format checks are really on
    validator(fixtures, "psf-osv-schema.json").validate(osv)
    validator(fixtures, "osv-schema.json").validate(osv)
    assert osv["schema_version"] == "1.5.0"  # what the database's records and tools say
    # Severity: v3 only, as that schema knows; the v4 vector where it is free to go.
    assert osv["severity"] == [{"type": "CVSS_V3", "score": CVSS3}]
    assert osv["database_specific"]["cvss_v4"] == CVSS4
    with_v4 = {**osv, "severity": [*osv["severity"], {"type": "CVSS_V4", "score": CVSS4}]}
    assert not validator(fixtures, "psf-osv-schema.json").is_valid(with_v4)  # why
    # One GIT range on CPython, introduced at the start, fixed by each backport.
    assert osv["affected"] == [
        {
            "ranges": [
                {
                    "type": "GIT",
                    "repo": "https://github.com/python/cpython",
                    "events": [{"introduced": "0"}, {"fixed": MAIN_FIX}, {"fixed": BACKPORT}],
                }
            ]
        }
    ]
    # Typed references: the advisory, the pull requests, the project's issue, the commits.
    assert [(r["type"], r["url"]) for r in osv["references"]] == [
        ("ADVISORY", advisory["html_url"]),
        ("WEB", "https://github.com/python/cpython/pull/4242"),
        ("WEB", "https://github.com/python/cpython/pull/4243"),
        ("REPORT", ISSUE),
        ("FIX", f"https://github.com/python/cpython/commit/{MAIN_FIX}"),
        ("FIX", f"https://github.com/python/cpython/commit/{BACKPORT}"),
    ]
    # Credits by the name on the GitHub profile, the login without one; profile as contact.
    assert sorted((c["name"], c["type"], c["contact"][0]) for c in osv["credits"]) == [
        ("Eve Example", "REPORTER", "https://github.com/eve"),
        ("Gregory P. Smith", "COORDINATOR", "https://github.com/gpshead"),
        ("fixer", "REMEDIATION_DEVELOPER", "https://github.com/fixer"),
    ]
    assert world.fake.requests_to(r"^/users/eve$", "GET")
    # The CVE record credits the same names.
    cve = json.loads((folder / "cve" / f"{cve_id}.json").read_text())
    values = {c["value"] for c in cve["containers"]["cna"]["credits"]}
    assert values == {"Eve Example", "Gregory P. Smith", "fixer"}


async def test_without_a_cve_id_the_placeholder_names_the_ghsa_id(
    world: World, tmp_path: Path, fixtures: Path
) -> None:
    """Published by an admin on GitHub, no CVE ID got; the reporter typed one in the field."""
    advisory = await file_report(world.bot, world.fake, "ghost-writer")
    world.fake.no_profile.add("ghost-writer")  # deleted since: GitHub answers 404
    advisory["cve_id"] = "CVE-2026-31337"  # typed by the reporter: not bound to it
    accept_credits(advisory)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    advisory.update(state="published", published_at=stamp, updated_at=stamp)
    payload = world.bot.payload("repository_advisory/published.payload.json")
    payload["installation"] = {"id": world.bot.installation_id, "node_id": "x"}
    payload["repository"]["full_name"] = "python/cpython"
    payload["repository_advisory"]["ghsa_id"] = advisory["ghsa_id"]
    await world.bot.send("repository_advisory", payload)
    await world.bot.settle()

    folder = tmp_path / "var" / "records"
    path, osv = the_only_record(folder)
    ghsa_id = advisory["ghsa_id"]
    assert path.relative_to(folder).as_posix() == f"advisories/python/PSF-0000-{ghsa_id}.json"
    assert osv["id"] == f"PSF-0000-{ghsa_id}" and osv["aliases"] == [ghsa_id]
    validator(fixtures, "psf-osv-schema.json").validate(osv)
    validator(fixtures, "osv-schema.json").validate(osv)
    assert "severity" not in osv and "cvss_v4" not in osv["database_specific"]
    # No fix merged: the range says every commit is affected, fixed by none.
    assert osv["affected"][0]["ranges"][0]["events"] == [{"introduced": "0"}]
    assert [c["name"] for c in osv["credits"]] == ["ghost-writer"]  # no profile: the login
    assert not (folder / "cve").exists()


async def test_a_team_that_owns_its_prefix_asks_for_the_numbering(
    start_bot: StartBot,
    fake_github: tuple[FakeGitHub, str],
    fake_cve: tuple[FakeCveServices, dict[str, str]],
    bot_env: dict[str, str],
    fixtures: Path,
    tmp_path: Path,
) -> None:
    """`layout = "osv"`: PREFIX-YEAR-N as before, and the current OSV schema's severity."""
    _, env = fake_cve
    configure(
        bot_env,
        lambda t: t.replace("bot_may_publish = false", "bot_may_publish = true").replace(
            'osv_prefix = "PSF"', 'osv_prefix = "PSF"\nlayout = "osv"'
        ),
    )
    world = await world_with(start_bot, fake_github, **env)
    advisory = await published_with_backports(world, "eve")

    folder = tmp_path / "var" / "records"
    path, osv = the_only_record(folder)
    year = advisory["published_at"][:4]
    assert path.relative_to(folder).as_posix() == f"osv/PSF-{year}-1.json"
    assert osv["id"] == f"PSF-{year}-1" and osv["schema_version"] == "1.7.5"
    validator(fixtures, "osv-schema.json").validate(osv)
    assert {s["type"] for s in osv["severity"]} == {"CVSS_V3", "CVSS_V4"}
    assert [r["type"] for r in osv["references"]].count("REPORT") == 0  # as before
    assert not validator(fixtures, "psf-osv-schema.json").is_valid(osv)  # CVSS_V4 in severity


def test_the_shipped_schema_is_the_one_the_database_pins(fixtures: Path) -> None:
    shipped = ROOT / "bot" / "records" / "schemas" / "psf-osv-schema.json"
    assert shipped.read_bytes() == (fixtures / "schemas" / "psf-osv-schema.json").read_bytes()


def test_layout_defaults_follow_the_prefix(tmp_path: Path) -> None:
    def layout(records: str) -> str:
        text = f'[team]\nname = "t"\n[records]\n{records}\n'
        return parse_config(text, tmp_path / "bot.toml").records.layout

    assert layout('osv_prefix = "PSF"') == "psf-advisory-database"
    assert layout("") == "osv"
    assert layout('osv_prefix = "ACME"\nlayout = "osv"') == "osv"
    with pytest.raises(ConfigError, match="layout"):
        layout('layout = "psf"')


def test_placeholders_file_names_and_names() -> None:
    ghsa = "GHSA-9wr6-x3c8-p2fq"
    assert placeholder_id("PSF", ghsa, "cve-2024-8088") == "PSF-0000-CVE-2024-8088"
    # Whatever else a CVE field holds (with the unsafe option on) never names a file.
    for typed in ("CVE-2024-1/../../x", "../../etc/passwd", "CVE-2024-1\n", None, ""):
        assert placeholder_id("PSF", ghsa, typed) == f"PSF-0000-{ghsa}"
    assert psf_product_folder("python/cpython") == "python"
    assert psf_product_folder("pypa/pip") == "pip"
    assert psf_product_folder("Acme/Web.Frame_work") == "web-frame_work"
    assert clean_name("Gregory P. Smith") == "Gregory P. Smith"
    assert clean_name("a\u202eb\u2066c\r\nd\x1b[31m") == "abc d[31m"
    assert clean_name("x" * 500) == "x" * 100
    assert clean_name(None) == "" and clean_name(["list"]) == ""


def test_the_product_folder_is_written_inside_the_records_folder_only(tmp_path: Path) -> None:
    """A local user who can write to records.folder links advisories/ elsewhere: refused."""
    folder, outside = tmp_path / "records", tmp_path / "outside"
    folder.mkdir()
    outside.mkdir()
    (folder / "advisories").symlink_to(outside, target_is_directory=True)
    exports = Exports("PSF-0000-CVE-2026-1234", {"id": "x"}, None, osv_folder="advisories/python")
    with pytest.raises(RecordError, match="outside"):
        write_exports(folder, exports)
    assert list(outside.rglob("*")) == []
    (folder / "advisories").unlink()
    [written] = write_exports(folder, exports)
    assert written == folder / "advisories" / "python" / "PSF-0000-CVE-2026-1234.json"
    assert (written.parent.stat().st_mode & 0o777, written.stat().st_mode & 0o777) == (0o700, 0o600)
    # A product folder that is not one of the database's names is not written either.
    for bad in ("advisories/../x", "advisories/Python", "advisories/", "elsewhere"):
        with pytest.raises(RecordError):
            write_exports(folder, Exports("PSF-0000-CVE-2026-1234", {}, None, osv_folder=bad))
