"""Transitions and events written by one INSERT each, with the ids the database would give."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from prostop_plugin.app import Prostop
from prostop_plugin.ledger import Tx
from prostop_plugin.ledger.rows import reserve_id
from tests.fixtures.builders import rtpcr_event, settings_for

WHEN = datetime.now(UTC) - timedelta(hours=2)


class Undone(Exception):
    """Rolls a savepoint back."""


@pytest.fixture
def prostop(tmp_path: Path) -> Iterator[Prostop]:
    with Prostop.open(settings_for(tmp_path)) as app:
        app.engine.committer.close()  # each event in a transaction of its own, on this thread
        for n in (1, 2, 3):
            app.record(rtpcr_event(n=n, when=WHEN, message_id=f"M{n}"))
        yield app


def automatic_id(prostop: Prostop, tx: Tx, table: str) -> int:
    """The id the database gives a row of ``table`` inserted without one (then undone)."""
    issuance = prostop.ledger.summaries()[0].id
    sql = {
        "transitions": "INSERT INTO transitions (issuance_id, to_state, at, actor) "
                       "VALUES (?, 'received', 'now', 'test') RETURNING seq AS id",
        "events": "INSERT INTO events (dedupe_key, issuance_id, received_at, payload) "
                  "VALUES ('scratch', ?, 'now', x'00') RETURNING id",
    }[table]
    found: list[int] = []
    with pytest.raises(Undone), prostop.ledger.savepoint():
        found.append(int(tx.execute(sql, (issuance,)).fetchone()["id"]))
        raise Undone
    return found[0]


@pytest.mark.parametrize("table", ["transitions", "events"])
@pytest.mark.parametrize("history", ["as written", "last row deleted", "sequence lowered"])
def test_a_reserved_id_is_the_one_the_database_would_give(
    prostop: Prostop, table: str, history: str
) -> None:
    column = "seq" if table == "transitions" else "id"
    with prostop.ledger.transaction() as tx:
        if history == "last row deleted":  # never reused: AUTOINCREMENT
            tx.execute(f"DELETE FROM {table} WHERE {column} = (SELECT max({column}) "
                       f"FROM {table})")
        elif history == "sequence lowered":  # by hand: the last row's id still counts
            tx.execute("UPDATE sqlite_sequence SET seq = 1 WHERE name = ?", (table,))
        expected = automatic_id(prostop, tx, table)
        assert reserve_id(tx, table) == expected
        assert reserve_id(tx, table) == expected + 1  # the next one, in the same transaction


def check_rolled_back_ids_are_given_again(prostop: Prostop) -> None:
    with prostop.ledger.transaction() as tx:
        first = reserve_id(tx, "events")
        with pytest.raises(Undone), prostop.ledger.savepoint():
            assert reserve_id(tx, "events") == first + 1
            raise Undone
        assert reserve_id(tx, "events") == first + 1


def test_ids_taken_in_a_rolled_back_savepoint_are_given_again(prostop: Prostop) -> None:
    check_rolled_back_ids_are_given_again(prostop)


def test_stored_events_and_transitions_stay_consistent_and_audited(prostop: Prostop) -> None:
    record = prostop.engine.record_event(rtpcr_event(n=1, when=WHEN, message_id="M1b"))  # joins
    assert prostop.ledger.event_count() == 4
    assert [t[1] for t in prostop.ledger.transitions(record.id)] == [
        "received", "awaiting_confirmation"]
    seqs = [r["seq"] for r in prostop.ledger.query("SELECT seq FROM transitions ORDER BY seq")]
    ids = [r["id"] for r in prostop.ledger.query("SELECT id FROM events ORDER BY id")]
    assert seqs == list(range(1, 7)) and ids == list(range(1, 5))
    assert prostop.audit.verify().ok
