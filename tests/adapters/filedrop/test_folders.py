"""Settle detection, claiming by rename, and the moves to done/ and quarantine/."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import pytest

from prostop_filedrop.folders import (
    ClaimedFile,
    FolderSet,
    SettleTracker,
    claimed_name,
    list_candidates,
)
from prostop_filedrop.settings import parse_filedrop_settings
from prostop_plugin.errors import ConfigError, InputError
from prostop_plugin.filenames import is_ignored_name
from tests.adapters.filedrop.helpers import FakeMonotonic


@pytest.fixture
def folder_set(tmp_path: Path) -> FolderSet:
    (tmp_path / "inbox").mkdir()
    (tmp_path / "outbox").mkdir()
    config = parse_filedrop_settings({"inbox": str(tmp_path / "inbox"),
                                      "outbox": str(tmp_path / "outbox")})
    files = FolderSet(config.folders(), clock=lambda: datetime(2020, 11, 19, 10, 30, 0))
    files.prepare()
    return files


def test_a_file_is_complete_once_size_and_mtime_held_still_for_the_settle_time() -> None:
    clock = FakeMonotonic()
    tracker = SettleTracker(5.0, clock)
    assert tracker.settled([("a.hpr", 10, 1)]) == []  # first sight
    clock.advance(4.9)
    assert tracker.settled([("a.hpr", 10, 1)]) == []
    clock.advance(0.1)
    assert tracker.settled([("a.hpr", 10, 1)]) == ["a.hpr"]


@pytest.mark.parametrize("change", [(20, 1), (10, 2)], ids=["size grew", "mtime moved"])
def test_any_change_restarts_the_settle_time(change: tuple[int, int]) -> None:
    clock = FakeMonotonic()
    tracker = SettleTracker(5.0, clock)
    tracker.settled([("a.hpr", 10, 1)])
    clock.advance(4.0)
    assert tracker.settled([("a.hpr", *change)]) == []
    clock.advance(4.0)  # 8 s since first sight, 4 s since the change
    assert tracker.settled([("a.hpr", *change)]) == []
    clock.advance(1.0)
    assert tracker.settled([("a.hpr", *change)]) == ["a.hpr"]


def test_settled_files_come_oldest_first_and_vanished_ones_are_forgotten() -> None:
    clock = FakeMonotonic()
    tracker = SettleTracker(1.0, clock)
    tracker.settled([("new.hl7", 5, 300), ("old.hl7", 5, 100), ("gone.hl7", 5, 200)])
    clock.advance(1.0)
    assert tracker.settled([("new.hl7", 5, 300), ("old.hl7", 5, 100)]) == ["old.hl7", "new.hl7"]
    assert "gone.hl7" not in tracker.seen
    tracker.settled([("gone.hl7", 5, 200)])  # back again: its settle time starts over
    assert tracker.settled([("gone.hl7", 5, 200)]) == []


@pytest.mark.parametrize("name", [".hidden.hpr", "result.hpr.tmp", "RESULT.HPR.PART", "x.partial",
                                  "x.filepart", "x.crdownload", "Thumbs.db", "desktop.ini",
                                  "~$report.hpr"])
def test_names_still_being_written_or_not_lab_files_are_never_claimed(name: str) -> None:
    assert is_ignored_name(name)


@pytest.mark.parametrize("name", ["result.hpr", "CR-BIO 2020.xml", "oru.hl7", "tmp-report.hpr"])
def test_ordinary_names_are_candidates(name: str) -> None:
    assert not is_ignored_name(name)


def test_only_regular_files_are_listed(tmp_path: Path) -> None:
    (tmp_path / "a.hpr").write_bytes(b"abc")
    (tmp_path / "b.hpr.part").write_bytes(b"abc")
    (tmp_path / "sub").mkdir()
    (tmp_path / "link.hpr").symlink_to(tmp_path / "a.hpr")
    listed = list_candidates(tmp_path, limit=10)
    assert [(n, s) for n, s, _ in listed] == [("a.hpr", 3)]
    for n in range(5):
        (tmp_path / f"more-{n}.hpr").write_bytes(b"x")
    assert len(list_candidates(tmp_path, limit=4)) == 4


def test_claiming_renames_into_processing_under_a_unique_name(folder_set: FolderSet) -> None:
    inbox = folder_set.folders.inbox
    (inbox / "result.hpr").write_bytes(b"first")
    first = folder_set.claim("result.hpr")
    (inbox / "result.hpr").write_bytes(b"second")  # the lab sends another file, same name
    second = folder_set.claim("result.hpr")
    assert first is not None and second is not None
    assert first.path != second.path
    assert first.path.read_bytes() == b"first" and second.path.read_bytes() == b"second"
    assert first.original_name == second.original_name == "result.hpr"
    assert first.name.startswith("20201119T103000-") and first.name.endswith("--result.hpr")
    assert ClaimedFile.at(first.path) == first
    assert ClaimedFile.at(first.path).claimed_at() == datetime(2020, 11, 19, 10, 30, 0)
    assert list(inbox.iterdir()) == []
    assert sorted(folder_set.in_processing(), key=lambda c: c.name) == sorted(
        [first, second], key=lambda c: c.name)


def test_a_file_claimed_by_someone_else_is_skipped(folder_set: FolderSet) -> None:
    assert folder_set.claim("gone.hpr") is None


def test_a_long_name_is_shortened_keeping_its_extension() -> None:
    name = claimed_name("é" * 200 + ".hpr", datetime(2020, 11, 19))
    assert name.endswith(".hpr")
    assert len((name + ".error.txt").encode()) <= 255


def test_done_files_go_in_a_dated_subfolder(folder_set: FolderSet) -> None:
    (folder_set.folders.inbox / "result.hpr").write_bytes(b"data")
    claimed = folder_set.claim("result.hpr")
    assert claimed is not None
    target = folder_set.to_done(claimed)
    assert target == folder_set.folders.done / "2020-11-19" / claimed.name
    assert target.read_bytes() == b"data"
    assert folder_set.in_processing() == []
    assert folder_set.to_done(claimed) is None  # moved already (another process): no error


def test_quarantine_writes_the_problem_beside_the_file(folder_set: FolderSet) -> None:
    (folder_set.folders.inbox / "result.hpr").write_bytes(b"junk")
    claimed = folder_set.claim("result.hpr")
    assert claimed is not None
    problem = InputError("the file is empty", where="result.hpr",
                         fix="check that the export completed")
    target = folder_set.to_quarantine(claimed, problem)
    assert target == folder_set.folders.quarantine / claimed.name
    note = (folder_set.folders.quarantine / f"{claimed.name}.error.txt").read_text()
    assert "File:        result.hpr" in note
    assert "Problem:     the file is empty" in note
    assert "Where:       result.hpr" in note
    assert "How to fix:  check that the export completed" in note
    assert str(folder_set.folders.inbox) in note  # how to submit it again
    assert "Traceback" not in note
    assert [p.name for p in folder_set.folders.quarantine.iterdir() if p.name.startswith(".")] \
        == []  # no temporary file left behind


@pytest.mark.parametrize("role", ["inbox", "outbox"])
def test_prepare_needs_existing_inbox_and_outbox(tmp_path: Path, role: str) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "out").mkdir()
    values = {"inbox": str(tmp_path / "in"), "outbox": str(tmp_path / "out")}
    values[role] = str(tmp_path / "typo")
    config = parse_filedrop_settings(values)
    with pytest.raises(ConfigError, match=f"the {role} folder does not exist") as caught:
        FolderSet(config.folders()).prepare()
    assert caught.value.where == f"adapter.filedrop.{role} = {tmp_path / 'typo'}"
    assert not (tmp_path / "typo").exists()


def test_prepare_creates_the_state_folders(folder_set: FolderSet) -> None:
    for folder in (folder_set.folders.processing, folder_set.folders.done,
                   folder_set.folders.quarantine):
        assert folder.is_dir()
        assert os.stat(folder).st_dev == os.stat(folder_set.folders.inbox).st_dev
