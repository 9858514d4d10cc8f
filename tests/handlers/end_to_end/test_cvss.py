"""`/cvss` end to end: comments on the fake GitHub, the poller, the bot's reply over HTTP.

A vector is checked with the `cvss` library before the PATCH: a repeated or invented
metric is refused with one line saying which, and nothing is sent to GitHub."""

from __future__ import annotations

from typing import Any

from tests.harness import World, file_report
from tests.scenarios import commented, replies

CVSS31 = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
CVSS40 = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"


def _vector_patches(world: World) -> list[Any]:
    return [
        r.body["cvss_vector_string"]
        for r in world.fake.mutations()
        if r.method == "PATCH" and isinstance(r.body, dict) and "cvss_vector_string" in r.body
    ]


async def test_a_repeated_or_invented_metric_is_refused_with_one_clear_line(world: World) -> None:
    advisory = await file_report(world.bot, world.fake, "ines")
    await commented(
        world,
        advisory,
        "gpshead",
        "/cvss CVSS:3.1/AV:N/AV:L/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H\n"
        "/cvss CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/XX:H\n"
        "/cvss CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/ZZ:X\n"
        "/cvss CVSS:2.0/AV:N/AC:L/Au:N/C:P/I:P/A:P\n"
        "/cvss CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/AV:L",  # the old check took it
    )
    [reply] = replies(world, advisory)
    body = reply["body"]
    outcomes = [line for line in body.splitlines() if line.startswith("Not done:")]
    assert outcomes == [
        'Not done: not a valid CVSS 3.1 vector: Duplicate metric "AV". Usage: `/cvss VECTOR`',
        'Not done: not a valid CVSS 4.0 vector: Invalid metric key in CVSS4 vector "XX:H". '
        "Usage: `/cvss VECTOR`",
        'Not done: not a valid CVSS 3.1 vector: Unknown metric "ZZ" in field "ZZ:X". '
        "Usage: `/cvss VECTOR`",
        "Not done: CVSS 2.0 is not taken: give a CVSS 3.1 or 4.0 vector. Usage: `/cvss VECTOR`",
        'Not done: not a valid CVSS 3.1 vector: Duplicate metric "AV". Usage: `/cvss VECTOR`',
    ]
    assert "Traceback" not in body and "Failed" not in body
    assert _vector_patches(world) == []
    assert not advisory.get("cvss")


async def test_valid_3_1_and_4_0_vectors_are_set(world: World) -> None:
    advisory = await file_report(world.bot, world.fake, "jon")
    await commented(world, advisory, "gpshead", f"/cvss {CVSS31}")
    assert advisory["cvss_severities"]["cvss_v3"]["vector_string"] == CVSS31
    assert advisory["cvss_severities"]["cvss_v3"]["score"] == 9.8
    await commented(world, advisory, "gpshead", f"/cvss {CVSS40}")
    assert advisory["cvss_severities"]["cvss_v4"]["vector_string"] == CVSS40
    [first, second] = replies(world, advisory)
    assert "CVSS vector set. The devguide asks for CVSS 4.0." in first["body"]
    assert "CVSS vector set." in second["body"] and "devguide" not in second["body"]
    assert _vector_patches(world) == [CVSS31, CVSS40]


async def test_a_vector_out_of_order_is_sent_in_the_standards_order(world: World) -> None:
    advisory = await file_report(world.bot, world.fake, "kim")
    shuffled = "CVSS:4.0/AC:L/AV:N/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/E:X"
    await commented(world, advisory, "gpshead", f"/cvss {shuffled}")
    assert _vector_patches(world) == [CVSS40]
    [reply] = replies(world, advisory)
    assert f"CVSS vector set. Written as `{CVSS40}`." in reply["body"]


async def test_the_reporter_cannot_set_a_vector(world: World) -> None:
    advisory = await file_report(world.bot, world.fake, "lea")
    await commented(world, advisory, "lea", f"/cvss {CVSS40}")
    assert _vector_patches(world) == []
    [reply] = replies(world, advisory)
    assert "CVSS vector set" not in reply["body"]
