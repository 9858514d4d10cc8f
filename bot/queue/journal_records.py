"""The intake journal's file format: records with a length and a checksum each.

A segment file starts with `FILE_MAGIC`; then each record is

    length (4 bytes, big-endian)  crc32 of the rest (4 bytes)  rest (`length` bytes)

where the rest is a JSON array `[guid, event, source, received_at, sequence]` (the
sequence numbers one process's appends in order, across its segments), a newline,
and the delivery's body exactly as GitHub sent it (UTF-8 JSON). Reading stops
at the first record that is short or fails its checksum: after a
power loss the tail of the last write may be torn (never a record in the
middle, since records are only appended), and what follows a bad record is not
trusted. Nothing here does I/O (bot/queue/journal_folder.py reads the files).
"""

from __future__ import annotations

import struct
import zlib
from typing import NamedTuple

import orjson

FILE_MAGIC = b"ghsa-bot intake journal 1\n"
_HEADER = struct.Struct(">II")


class JournalRecord(NamedTuple):
    """One acknowledged delivery as the journal keeps it."""

    guid: str
    event: str
    source: str
    received_at: float
    sequence: int
    body: str


class SegmentContents(NamedTuple):
    """What a segment file held: its whole records, and how many bytes after them
    could not be read (a torn tail, or damage)."""

    records: list[JournalRecord]
    unreadable_bytes: int
    unreadable_at: int


def encode_record(
    guid: str, event: str, source: str, received_at: float, sequence: int, body: str
) -> bytes:
    """One record's bytes, header included."""
    metadata = orjson.dumps([guid, event, source, received_at, sequence])
    rest = metadata + b"\n" + body.encode("utf-8")
    return _HEADER.pack(len(rest), zlib.crc32(rest)) + rest


def decode_records(data: bytes) -> SegmentContents:
    """The records of a segment's bytes, up to the first that cannot be read."""
    if not data.startswith(FILE_MAGIC):
        return SegmentContents([], len(data), 0)
    records: list[JournalRecord] = []
    offset = len(FILE_MAGIC)
    while offset < len(data):
        record = _record_at(data, offset)
        if record is None:
            break
        records.append(record[0])
        offset = record[1]
    return SegmentContents(records, len(data) - offset, offset)


def _record_at(data: bytes, offset: int) -> tuple[JournalRecord, int] | None:
    """The record at `offset` and the offset after it; None when it cannot be read."""
    if offset + _HEADER.size > len(data):
        return None
    length, checksum = _HEADER.unpack_from(data, offset)
    start = offset + _HEADER.size
    end = start + length
    if end > len(data):
        return None
    rest = data[start:end]
    if zlib.crc32(rest) != checksum:
        return None
    metadata, separator, body = rest.partition(b"\n")
    try:
        guid, event, source, received_at, sequence = orjson.loads(metadata)
        record = JournalRecord(
            str(guid),
            str(event),
            str(source),
            float(received_at),
            int(sequence),
            body.decode("utf-8"),
        )
    except (ValueError, TypeError):  # a checksum that matches by chance, or a foreign file
        return None
    if not separator:
        return None
    return record, end
