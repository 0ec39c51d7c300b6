"""The ledger in PostgreSQL (a real server, see tests/fixtures/postgres.py): the same schema
through the same migrations, encrypted columns, the audit cross-check, claims that skip rows
another worker holds."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from prostop_plugin.app import Prostop
from prostop_plugin.config import Settings
from prostop_plugin.errors import LedgerError
from prostop_plugin.ledger import SCHEMA_VERSION
from prostop_plugin.models import IssuanceState
from tests.fixtures.builders import rtpcr_event, settings_for

WHEN = datetime.now(UTC) - timedelta(hours=2)
S = IssuanceState


@pytest.fixture
def settings(tmp_path: Path, postgres_url: str) -> Settings:
    return settings_for(tmp_path).model_copy(update={"data_url": postgres_url})


@pytest.fixture
def prostop(settings: Settings) -> Iterator[Prostop]:
    with Prostop.open(settings) as app:
        for n in (1, 2, 3):
            app.hooks.diagnosis_recorded(rtpcr_event(n=n, when=WHEN, message_id=f"M{n}"))
        yield app


def test_the_same_schema_through_the_same_migrations(prostop: Prostop, postgres_url: str) -> None:
    assert prostop.ledger.schema_version() == SCHEMA_VERSION
    assert not (prostop.settings.data_dir / "ledger.sqlite3").exists()
    with psycopg.connect(postgres_url) as conn:
        tables = {r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")}
        types = dict(conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 'issuances'").fetchall())
        bodies = [bytes(r[0]) for r in conn.execute("SELECT body FROM issuances")]
    assert {"issuances", "events", "transitions", "outbox", "audit", "audit_head"} <= tables
    assert types["body"] == types["code_blob"] == "bytea"
    assert len(bodies) == 3 and not any(b"DUPONT" in body for body in bodies)  # encrypted
    # opening again is a no-op migration
    Prostop.open(prostop.settings).close()


def test_flow_and_audit_cross_check(prostop: Prostop, postgres_url: str) -> None:
    assert [s.state for s in prostop.ledger.summaries()] == [S.AWAITING_CONFIRMATION] * 3
    assert prostop.audit.verify().ok
    victim = prostop.ledger.ids_in_states(S.AWAITING_CONFIRMATION)[0]
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("UPDATE issuances SET state = 'approved' WHERE id = %s", (victim,))
    result = prostop.audit.verify()
    assert not result.ok and f"issuance {victim} in the ledger was altered" in str(result.problem)


def test_claims_skip_the_rows_another_worker_holds(prostop: Prostop, postgres_url: str) -> None:
    ids = prostop.ledger.ids_in_states(S.AWAITING_CONFIRMATION)
    with psycopg.connect(postgres_url) as other:  # another worker, in its transaction
        other.execute("SELECT id FROM issuances WHERE id = %s FOR UPDATE", (ids[0],))
        claimed = prostop.ledger.claim((S.AWAITING_CONFIRMATION,), datetime.now(UTC),
                                       seconds=60)
        assert claimed == ids[1:], "the locked row is skipped, without waiting for it"
        other.rollback()
    # claimed rows are leased: a second claim (another thread) gets none of them
    import threading

    second: list[str] = []
    thread = threading.Thread(target=lambda: second.extend(prostop.ledger.claim(
        (S.AWAITING_CONFIRMATION,), datetime.now(UTC), seconds=60)))
    thread.start()
    thread.join(30)
    assert second == [ids[0]]
    prostop.ledger.release(claimed)
    assert prostop.ledger.claim((S.AWAITING_CONFIRMATION,), datetime.now(UTC),
                                seconds=60) == ids[1:]


def test_an_unreachable_server_is_a_clear_error(tmp_path: Path) -> None:
    from tests.adapters.hl7v2_mllp.helpers import free_port

    url = f"postgresql://prostop:secret@127.0.0.1:{free_port()}/nothing?connect_timeout=2"
    settings = settings_for(tmp_path).model_copy(update={"data_url": url})
    with pytest.raises(LedgerError) as error:
        Prostop.open(settings)
    message = error.value.one_line()
    assert "cannot connect to the ledger database" in message and "data_url" in message
    assert "secret" not in message, "the password is never shown"
