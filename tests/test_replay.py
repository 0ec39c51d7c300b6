"""The backlog replay (`prostop submit DIR…`) on generated lab folders and a real ledger: the
summary, --since, resuming after Ctrl-C without a duplicate, files left as they were."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from prostop_plugin import hookimpl
from prostop_plugin.app import Prostop
from prostop_plugin.errors import InputError
from prostop_plugin.filenames import display_name
from prostop_plugin.models import IssuanceRecord, IssuanceState
from prostop_plugin.replay import ReplaySummary, ResumeMarker, replay
from tests.fixtures.backlog import Backlog, message, write_backlog
from tests.fixtures.builders import settings_for


@pytest.fixture
def backlog(tmp_path: Path) -> Backlog:
    return write_backlog(tmp_path / "labo", 120)


@pytest.fixture
def prostop(tmp_path: Path) -> Iterator[Prostop]:
    with Prostop.open(settings_for(tmp_path)) as app:
        yield app


class StopAfter:
    """A progress display whose user presses Ctrl-C after ``files`` files."""

    def __init__(self, files: int) -> None:
        self.files = files
        self.done = 0

    def start(self, total: int) -> None:
        self.total = total

    def advance(self, done: int = 1) -> None:
        self.done += done
        if self.done == self.files:
            raise KeyboardInterrupt

    def finish(self) -> None:
        self.finished = True


def snapshot(root: Path) -> dict[Path, tuple[int, bytes]]:
    return {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in root.rglob("*") if p.is_file()}


def test_the_summary_of_a_replay(prostop: Prostop, backlog: Backlog) -> None:
    before = snapshot(backlog.root)
    summary = replay(prostop, [backlog.root])
    assert (summary.found, summary.read, summary.resumed) == (120, 120, 0)
    assert summary.not_relevant == backlog.irrelevant
    assert len(summary.unreadable) == backlog.unreadable == 1
    assert "resultat-0000099.hl7" in summary.unreadable[0].reason
    assert "truncated" in summary.unreadable[0].reason  # what, and what to do
    assert summary.events_stored == backlog.positive + backlog.negative
    assert summary.events_known == 0
    assert summary.states == {"awaiting_confirmation": backlog.positive,
                              "not_eligible": backlog.negative}
    assert not summary.interrupted
    assert prostop.ledger.event_count() == summary.events_stored
    assert snapshot(backlog.root) == before, "a replay only reads the EHR's folders"
    assert not list((prostop.settings.data_dir / "replay").glob("*")), "marker removed"


def test_a_replay_read_again_adds_nothing(prostop: Prostop, backlog: Backlog) -> None:
    first = replay(prostop, [backlog.root])
    again = replay(prostop, [backlog.root])
    assert again.resumed == 0 and again.read == 120  # completed: read again, in full
    assert (again.events_stored, again.events_known) == (0, first.events_stored)
    assert sorted(again.issuance_ids) == sorted(first.issuance_ids)
    assert prostop.ledger.event_count() == first.events_stored


def test_ctrl_c_then_the_same_command_resumes_without_reading_twice(
    prostop: Prostop, backlog: Backlog, tmp_path: Path
) -> None:
    interrupted = replay(prostop, [backlog.root], progress=StopAfter(50))
    assert interrupted.interrupted and interrupted.read == 50
    markers = list((prostop.settings.data_dir / "replay").glob("*.jsonl"))
    assert len(markers) == 1
    noted = markers[0].read_text()
    assert "resultat" not in noted and "PATIENT" not in noted, "file names are digested"

    resumed = replay(prostop, [backlog.root])
    assert not resumed.interrupted
    assert resumed.resumed == 50  # every file read before Ctrl-C (none unreadable yet)
    with Prostop.open(settings_for(tmp_path / "whole")) as fresh:
        whole = replay(fresh, [backlog.root])
    for figure in ("read", "not_relevant", "events_stored", "events_known", "states"):
        assert getattr(resumed, figure) == getattr(whole, figure), figure
    assert len(resumed.unreadable) == 1
    assert prostop.ledger.event_count() == backlog.positive + backlog.negative
    assert len(prostop.ledger.summaries()) == backlog.positive + backlog.negative
    assert not markers[0].exists()


class CtrlCOnce:
    """Ctrl-C pressed while the core handles an event, after it was stored."""

    def __init__(self) -> None:
        self.pressed = False

    @hookimpl
    def prostop_issuance_changed(self, record: IssuanceRecord, previous: object) -> None:
        if record.state is IssuanceState.AWAITING_CONFIRMATION and not self.pressed:
            self.pressed = True
            raise KeyboardInterrupt


def test_ctrl_c_inside_a_file_stores_its_event_once(tmp_path: Path, backlog: Backlog) -> None:
    with Prostop.open(settings_for(tmp_path), plugins=[CtrlCOnce()]) as app:
        cut = replay(app, [backlog.root])
        assert cut.interrupted and cut.events_stored == 0  # the file was not noted as done
        assert app.ledger.event_count() == 1  # but its event is durable
        summary = replay(app, [backlog.root])
        assert summary.events_known == 1  # read again: recognised, not stored twice
        assert summary.events_stored == backlog.positive + backlog.negative - 1
        assert app.ledger.event_count() == backlog.positive + backlog.negative
        assert summary.states["awaiting_confirmation"] == backlog.positive


def test_since_reads_only_the_recent_files(prostop: Prostop, tmp_path: Path) -> None:
    root = tmp_path / "labo"
    write_backlog(root, 40, newest=datetime.now(UTC) - timedelta(hours=1), spacing=12 * 3600)
    since = (datetime.now(UTC) - timedelta(days=5)).date()
    summary = replay(prostop, [root], since=since)
    recent = sum(1 for p in root.rglob("*.hl7")
                 if datetime.fromtimestamp(p.stat().st_mtime, UTC).date() >= since)
    assert 0 < summary.read <= recent + 2  # Paris midnight vs UTC: a file either side
    assert summary.too_old == 40 - summary.read
    assert summary.found == 40


def test_names_that_are_not_files_lab_results_or_utf8(prostop: Prostop, tmp_path: Path) -> None:
    root = tmp_path / "partage"
    root.mkdir()
    latin1 = os.fsdecode(root) + os.sep + os.fsdecode(b"r\xe9sultat DUPONT.hl7")
    Path(latin1).write_bytes(message(10, "positive", datetime.now(UTC) - timedelta(hours=5)))
    Path(os.fsdecode(root) + os.sep + os.fsdecode(b"cass\xe9.hl7")).write_bytes(b"MSH|cut")
    for ignored in ("envoi.tmp", ".cache", "Thumbs.db", "~$brouillon.hl7"):
        (root / ignored).write_bytes(b"MSH|nothing")
    (root / ".snapshot").mkdir()
    (root / ".snapshot" / "old.hl7").write_bytes(b"MSH|nothing")
    summary = replay(prostop, [root])
    assert summary.found == 2 and summary.events_stored == 1
    [unreadable] = summary.unreadable
    assert unreadable.where.endswith("cassé.hl7") and "cassé.hl7" in unreadable.reason
    assert display_name(Path(os.fsdecode(b"/x/a\nb\x81.hl7"))) == "/x/a\\nb\\x81.hl7"


def test_a_missing_folder_is_an_input_error(prostop: Prostop, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file or folder"):
        replay(prostop, [tmp_path / "nowhere"])


def test_the_marker_ignores_a_line_cut_by_a_crash(prostop: Prostop, backlog: Backlog) -> None:
    replay(prostop, [backlog.root], progress=StopAfter(10))
    marker = ResumeMarker(prostop, [backlog.root], None, "cli")
    with marker.path.open("a") as handle:
        handle.write('{"file": "abc", "outco')
    marker.load()
    assert len(marker.done) == 10
    summary: ReplaySummary = replay(prostop, [backlog.root])
    assert summary.resumed == 10 and summary.read == 120
