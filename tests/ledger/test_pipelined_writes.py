"""Write transactions on PostgreSQL are pipelined (statements sent without waiting for each
result): a statement that fails must still fail the part (savepoint) that ran it, never a
later part of the same batch, and a commit returns only once durable. The same holds on
SQLite, where every statement answers at once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from prostop_plugin.app import Prostop
from prostop_plugin.errors import LedgerError
from tests.fixtures.builders import rtpcr_event, settings_for

WHEN = datetime.now(UTC) - timedelta(hours=2)
#: a second row with the first event's dedupe key: refused by the unique index, and it
#: reads nothing back (nothing forces an answer before the part ends)
DUPLICATE_EVENT = (
    "INSERT INTO events (dedupe_key, issuance_id, received_at, payload) "
    "SELECT dedupe_key, issuance_id, received_at, payload FROM events WHERE id = "
    "(SELECT min(id) FROM events)"
)


@pytest.fixture(params=["sqlite", "postgresql"])
def prostop(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Prostop]:
    settings = settings_for(tmp_path)
    if request.param == "postgresql":
        settings = settings.model_copy(
            update={"data_url": request.getfixturevalue("postgres_url")})
    with Prostop.open(settings) as app:
        app.engine.committer.close()
        for n in (1, 2):
            app.record(rtpcr_event(n=n, when=WHEN, message_id=f"M{n}"))
        yield app


def test_a_failing_statement_fails_its_own_part_and_the_next_part_commits(
    prostop: Prostop,
) -> None:
    ledger = prostop.ledger
    issuance = ledger.summaries()[0].id
    with ledger.transaction() as tx:
        with pytest.raises(LedgerError), ledger.savepoint():
            tx.execute(DUPLICATE_EVENT)
        with ledger.savepoint():
            tx.execute("UPDATE issuances SET set_aside = ? WHERE id = ?",
                       ("a later part", issuance))
    assert ledger.event_count() == 2
    row = ledger.query_one("SELECT set_aside FROM issuances WHERE id = ?", (issuance,))
    assert row is not None and row["set_aside"] == "a later part"


def test_a_failing_statement_outside_any_part_fails_the_transaction(prostop: Prostop) -> None:
    ledger = prostop.ledger
    issuance = ledger.summaries()[0].id
    with pytest.raises(LedgerError), ledger.transaction() as tx:
        tx.execute("UPDATE issuances SET set_aside = ? WHERE id = ?", ("undone", issuance))
        tx.execute(DUPLICATE_EVENT)
    row = ledger.query_one("SELECT set_aside FROM issuances WHERE id = ?", (issuance,))
    assert row is not None and row["set_aside"] is None
    assert ledger.event_count() == 2
