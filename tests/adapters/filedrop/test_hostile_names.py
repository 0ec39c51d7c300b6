"""File names whatever their bytes: every file is claimed, then read or quarantined, and the
names shown in logs and notes are printable (a Latin-1 name from a French Windows share must
not stop the inbox for every later file)."""

from __future__ import annotations

import logging
import os
from datetime import datetime
from pathlib import Path

import pytest

from prostop_filedrop.folders import ERROR_SUFFIX, ClaimedFile, claimed_name
from prostop_filedrop.service import InboxService
from prostop_plugin import display_name
from prostop_plugin.app import Prostop
from tests.adapters.filedrop.helpers import FakeMonotonic, corpus, drop, files, original_names

pytestmark = pytest.mark.skipif(os.name == "nt", reason="Windows names are UTF-16, never bytes")


def create_with_bytes_name(folder: Path, name: bytes, data: bytes, mtime: int) -> None:
    """A file created as a sender on a Latin-1 system does: the name is raw bytes."""
    path = os.fsencode(folder) + b"/" + name
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.utime(path, ns=(mtime, mtime))


def poll_until_idle(service: InboxService, clock: FakeMonotonic, polls: int = 4) -> None:
    for _ in range(polls):
        service.poll_once()
        clock.advance(service.config.settle_seconds + 0.01)


def assert_printable_logs(caplog: pytest.LogCaptureFixture) -> None:
    for record in caplog.records:
        message = record.getMessage()
        message.encode("utf-8")  # no lone surrogate: a log handler could write it
        assert message.isprintable(), message


def test_a_latin1_name_is_read_and_does_not_hold_back_later_files(
    service: InboxService, clock: FakeMonotonic, runtime: Prostop,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    folders = service.files.folders
    # the oldest file, so it comes first: before the fix it stopped every poll at its claim
    create_with_bytes_name(folders.inbox, b"r\xe9sultat.hl7",
                           corpus("oru_rtpcr_positive.hl7"), mtime=1_600_000_000_000_000_000)
    later = drop(folders.inbox, "normal.hpr", corpus("hprim_rtpcr_positif.hpr"))
    os.utime(later, ns=(1_600_000_100_000_000_000,) * 2)

    poll_until_idle(service, clock)

    assert original_names(folders.done) == ["normal.hpr", "résultat.hl7"]
    assert os.listdir(folders.inbox) == os.listdir(folders.processing) == []
    assert runtime.ledger.event_count() == 2
    done = [p.name for p in files(folders.done)]
    assert any(name.endswith("--résultat.hl7") for name in done), done  # a readable name
    assert_printable_logs(caplog)
    assert any("résultat.hl7" in r.getMessage() for r in caplog.records)


def test_an_unreadable_file_with_a_hostile_name_is_quarantined_with_a_readable_note(
    service: InboxService, clock: FakeMonotonic, runtime: Prostop,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    folders = service.files.folders
    names = {
        b"compte-rendu \xe9t\xe9.hl7": "compte-rendu été.hl7",  # Latin-1
        b"bad\x81byte.hl7": "bad\\x81byte.hl7",  # not even Windows-1252
        b"two\nlines\x1b[31m.hl7": "two\\nlines\\x1b[31m.hl7",  # control characters
    }
    for index, raw in enumerate(names):
        create_with_bytes_name(folders.inbox, raw, b"not a lab report at all",
                               mtime=1_600_000_000_000_000_000 + index)
    drop(folders.inbox, "normal.hpr", corpus("hprim_rtpcr_positif.hpr"))

    poll_until_idle(service, clock)

    assert original_names(folders.done) == ["normal.hpr"]
    assert sorted(ClaimedFile.at(p).original_name for p in files(folders.quarantine)) == sorted(
        shown.replace("\\", "_") for shown in names.values())
    assert os.listdir(folders.inbox) == os.listdir(folders.processing) == []
    notes = sorted(folders.quarantine.glob(f"*{ERROR_SUFFIX}"))
    assert len(notes) == 3
    for note in notes:
        text = note.read_bytes().decode("utf-8")  # strict: the note is valid UTF-8
        assert "unrecognised format" in text
        assert all(line.isprintable() for line in text.splitlines())
    kept = {p.read_bytes() for p in files(folders.quarantine)}
    assert kept == {b"not a lab report at all"}  # the content is kept unchanged
    assert runtime.ledger.event_count() == 1
    assert_printable_logs(caplog)


@pytest.mark.parametrize(("raw", "shown"), [
    (b"r\xe9sultat.hl7", "résultat.hl7"),
    (b"r\xc3\xa9sultat.hl7", "résultat.hl7"),
    (b"\x92quote\x80.hpr", "\u2019quote\u20ac.hpr"),  # Windows-1252 right quote and euro
    (b"tab\there.hl7", "tab\\there.hl7"),
])
def test_display_names_are_printable_and_decode_latin1_sensibly(raw: bytes, shown: str) -> None:
    assert display_name(os.fsdecode(raw)) == shown


def test_a_long_latin1_name_is_shortened_to_fit() -> None:
    name = claimed_name(os.fsdecode(b"\xe9" * 300 + b".hl7"), datetime(2020, 11, 19))
    assert name.endswith("é.hl7")
    assert len(os.fsencode(name + ERROR_SUFFIX)) <= 255
