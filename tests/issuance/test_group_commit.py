"""Group commit: senders' work committed in batches by one writer, each sender released once
its batch is durable; a piece that fails fails alone, a commit that fails fails them all."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from prostop_plugin import hookimpl
from prostop_plugin.app import Prostop
from prostop_plugin.errors import LedgerError
from prostop_plugin.models import IssuanceRecord, IssuanceState
from tests.fixtures.builders import rtpcr_event, settings_for

WHEN = datetime.now(UTC) - timedelta(hours=2)


@pytest.fixture
def prostop(tmp_path: Path) -> Iterator[Prostop]:
    with Prostop.open(settings_for(tmp_path)) as app:
        yield app


class Senders:
    """Threads handing work to the committer while its writer is held in a first batch, so
    that everything they send is waiting together when it is let go: the next batch."""

    def __init__(self, prostop: Prostop) -> None:
        self.committer = prostop.engine.committer
        self.gate = threading.Event()
        self.results: dict[int, Any] = {}
        self.threads: list[threading.Thread] = []
        holding = threading.Event()

        def hold() -> None:
            holding.set()
            self.gate.wait()

        self._start(-1, hold)  # holds the writer in a first batch
        self._wait_for(holding.is_set)

    def _queued(self) -> int:
        return self.committer._queue.qsize()

    def _wait_for(self, condition: Callable[[], bool]) -> None:
        for _ in range(2000):
            if condition():
                return
            threading.Event().wait(0.005)
        raise AssertionError("the senders did not get in line")

    def _start(self, index: int, work: Callable[[], Any]) -> None:
        def send() -> None:
            try:
                self.results[index] = self.committer.run(work)
            except Exception as exc:
                self.results[index] = exc

        thread = threading.Thread(target=send)
        thread.start()
        self.threads.append(thread)

    def send(self, works: list[Callable[[], Any]]) -> dict[int, Any]:
        for index, work in enumerate(works):
            self._start(index, work)
        self._wait_for(lambda: self._queued() == len(works))
        self.gate.set()
        for thread in self.threads:
            thread.join(30)
        return self.results


def test_waiting_senders_share_one_commit(prostop: Prostop) -> None:
    events = [rtpcr_event(n=n, when=WHEN, message_id=f"M{n}") for n in range(1, 9)]
    results = Senders(prostop).send(
        [lambda e=event: prostop.engine.ingest(e)[0].id for event in events])
    assert prostop.engine.committer.batches == 2  # the held one, then all eight together
    assert prostop.engine.committer.pieces == 9
    assert sorted(results[i] for i in range(8)) == sorted(s.id for s in prostop.ledger.summaries())
    assert prostop.audit.verify().ok


def test_a_piece_that_fails_is_rolled_back_alone(prostop: Prostop) -> None:
    def fails() -> None:
        prostop.engine.ingest(rtpcr_event(n=50, when=WHEN, message_id="BAD"))
        raise ValueError("this sender's own problem")

    works: list[Callable[[], Any]] = [
        lambda: prostop.engine.ingest(rtpcr_event(n=1, when=WHEN, message_id="M1"))[0].id,
        fails,
        lambda: prostop.engine.ingest(rtpcr_event(n=2, when=WHEN, message_id="M2"))[0].id,
    ]
    results = Senders(prostop).send(works)
    assert isinstance(results[1], ValueError)
    assert {results[0], results[2]} == {s.id for s in prostop.ledger.summaries()}
    assert prostop.ledger.event_count() == 2
    assert prostop.audit.verify().ok  # the failed piece's entries went with it


def test_a_commit_that_fails_fails_every_sender_of_its_batch(
    prostop: Prostop, tmp_path: Path
) -> None:
    with sqlite3.connect(tmp_path / "var" / "ledger.sqlite3") as conn:
        conn.execute("CREATE TRIGGER full_disk BEFORE INSERT ON audit_head "
                     "BEGIN SELECT RAISE(ABORT, 'disk full'); END")
    events = [rtpcr_event(n=n, when=WHEN, message_id=f"M{n}") for n in (1, 2, 3)]
    results = Senders(prostop).send(
        [lambda e=event: prostop.engine.ingest(e)[0].id for event in events])
    assert all(isinstance(results[i], LedgerError) for i in range(3)), results
    assert "disk full" in str(results[0])
    assert prostop.ledger.summaries() == [] and prostop.ledger.event_count() == 0


class SeesItDurable:
    """An observer that looks at the ledger from another connection when told of a step."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.seen: list[tuple[str, bool]] = []

    @hookimpl
    def prostop_issuance_changed(
        self, record: IssuanceRecord, previous: IssuanceState | None
    ) -> None:
        with sqlite3.connect(self.path) as conn:
            row = conn.execute("SELECT 1 FROM audit WHERE issuance_id = ? AND action = ?",
                               (record.id, f"transition:{record.state.value}")).fetchone()
        self.seen.append((record.state.value, row is not None))


def test_senders_are_answered_and_observers_told_only_once_durable(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    observer = SeesItDurable(settings.ledger_path)
    with Prostop.open(settings, plugins=[observer]) as prostop:
        threads = [threading.Thread(target=prostop.hooks.diagnosis_recorded,
                                    args=(rtpcr_event(n=n, when=WHEN, message_id=f"M{n}"),))
                   for n in range(1, 7)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert len(prostop.ledger.summaries()) == 6
    assert len(observer.seen) == 12  # received, then awaiting_confirmation, for each
    assert all(durable for _, durable in observer.seen), observer.seen
