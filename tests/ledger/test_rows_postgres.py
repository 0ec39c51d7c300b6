"""Row ids reserved from PostgreSQL's sequences a block at a time (a real server, see
tests/fixtures/postgres.py): one round trip for a batch's rows, ids unique and increasing,
and the ids of a rolled-back savepoint given again."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from prostop_plugin.app import Prostop
from prostop_plugin.ledger.rows import PG_ID_BLOCK, reserve_id
from tests.fixtures.builders import settings_for
from tests.ledger.test_rows import check_rolled_back_ids_are_given_again


@pytest.fixture
def prostop(tmp_path: Path, postgres_url: str) -> Iterator[Prostop]:
    settings = settings_for(tmp_path).model_copy(update={"data_url": postgres_url})
    with Prostop.open(settings) as app:
        yield app


@pytest.fixture
def statements(prostop: Prostop, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The SQL the ledger runs from now on."""
    ran: list[str] = []
    dialect = prostop.ledger.dialect
    execute = dialect.execute

    def recording(conn: Any, text: str, params: Any = ()) -> Any:
        ran.append(text)
        return execute(conn, text, params)

    monkeypatch.setattr(dialect, "execute", recording)
    return ran


@pytest.mark.parametrize("table", ["transitions", "events"])
def test_a_batch_of_ids_takes_one_round_trip_per_block(
    prostop: Prostop, statements: list[str], table: str
) -> None:
    with prostop.ledger.transaction() as tx:
        ids = [reserve_id(tx, table) for _ in range(2 * PG_ID_BLOCK + 1)]
    assert ids == sorted(set(ids))  # unique, increasing
    assert sum("nextval" in sql for sql in statements) == 3
    with prostop.ledger.transaction() as tx:
        assert reserve_id(tx, table) > ids[-1]  # a later transaction: later ids


def test_ids_taken_in_a_rolled_back_savepoint_are_given_again(prostop: Prostop) -> None:
    check_rolled_back_ids_are_given_again(prostop)
