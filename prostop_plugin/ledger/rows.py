"""Transitions and events, each written by one ``INSERT``.

A transition's MAC covers its number, and an event's payload is encrypted under a context
naming its id: both are known only once the row has its id. The id is therefore reserved
first (:func:`reserve_id`), then the row goes in whole (payload, audit entry, MAC) — not
inserted, then updated. The ids are the ones the database would have given:

* SQLite (``AUTOINCREMENT``): the next id is one more than the larger of the table's last
  id and its ``sqlite_sequence`` entry, read once per transaction (the transaction holds the
  write lock, so no other writer takes one in between) and counted on in ``tx.state``, which a
  rolled-back savepoint restores along with the database's own counter;
* PostgreSQL (identity columns): ``nextval`` of the column's sequence, as a default would —
  :data:`PG_ID_BLOCK` at a time, one round trip for a batch's rows instead of one per row (a
  sequence has gaps anyway: ids a transaction took and did not use are skipped, as after a
  rollback).
"""

from __future__ import annotations

from typing import Any

from prostop_plugin.keys import KeyRing
from prostop_plugin.ledger.backend import Tx
from prostop_plugin.ledger.records import Journal
from prostop_plugin.ledger.rowmac import row_mac
from prostop_plugin.models import IssuanceRecord, IssuanceState

#: the tables whose ids are reserved, and their id column
ID_COLUMNS = {"transitions": "seq", "events": "id"}
#: ids taken from a PostgreSQL sequence at once
PG_ID_BLOCK = 32
_NEXT = "ledger-next-ids"
_SQLITE_NEXT = (
    "SELECT (SELECT max(seq) FROM transitions) AS transitions, "
    "(SELECT seq FROM sqlite_sequence WHERE name = 'transitions') AS transitions_seq, "
    "(SELECT max(id) FROM events) AS events, "
    "(SELECT seq FROM sqlite_sequence WHERE name = 'events') AS events_seq"
)


def reserve_id(tx: Tx, table: str) -> int:
    """The id the next row of ``table`` (``transitions`` or ``events``) is written with."""
    column = ID_COLUMNS[table]
    if tx.dialect.name == "postgresql":
        key = f"{_NEXT}:{table}"
        block: list[int] = tx.state.get(key) or [
            int(row["id"]) for row in tx.execute(
                f"SELECT nextval(pg_get_serial_sequence('{table}', '{column}')) AS id "
                f"FROM generate_series(1, {PG_ID_BLOCK}) ORDER BY id"
            ).fetchall()
        ]
        tx.state[key] = block[1:]  # a new list: a savepoint's mark keeps the one it saw
        return block[0]
    following: dict[str, int] | None = tx.state.get(_NEXT)
    if following is None:
        row = tx.execute(_SQLITE_NEXT).fetchone()
        following = {
            name: max(row[name] or 0, row[f"{name}_seq"] or 0) + 1 for name in ID_COLUMNS
        }
    reserved = following[table]
    # a new mapping each time: a savepoint's mark keeps the one it saw
    tx.state[_NEXT] = {**following, table: reserved + 1}
    return reserved


def insert_transition_row(
    tx: Tx, keyring: KeyRing, journal: Journal | None, record: IssuanceRecord,
    previous: IssuanceState | None, at: str, actor: str,
) -> int | None:
    """Write ``record``'s move from ``previous``, audited; return the audit entry's number."""
    seq = reserve_id(tx, "transitions")
    audit_seq = None if journal is None else journal.record_transition(tx, record, previous)
    stored: dict[str, Any] = {
        "seq": seq, "issuance_id": record.id,
        "from_state": previous.value if previous else None, "to_state": record.state.value,
        "at": at, "actor": actor, "audit_seq": audit_seq,
    }
    tx.execute(
        "INSERT INTO transitions (seq, issuance_id, from_state, to_state, at, actor, "
        "audit_seq, mac) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (*stored.values(), row_mac(keyring, "transitions", stored)),
    )
    return audit_seq


def insert_event_row(
    tx: Tx, keyring: KeyRing, journal: Journal | None, *, dedupe_key: str,
    issuance_id: str, received_at: str, body: str, audit_seq: int | None,
) -> None:
    """Write an event (``body``: its JSON) under an issuance. ``audit_seq``: the entry that
    already records it; otherwise the journal records it now."""
    row_id = reserve_id(tx, "events")
    payload = keyring.encrypt(body.encode(), context=f"event:{row_id}".encode())
    if audit_seq is None and journal is not None:
        episode = tx.execute(
            "SELECT episode FROM issuances WHERE id = ?", (issuance_id,)
        ).fetchone()["episode"]
        audit_seq = journal.record_event(tx, issuance_id, episode)
    stored: dict[str, Any] = {
        "id": row_id, "dedupe_key": dedupe_key, "issuance_id": issuance_id,
        "received_at": received_at, "payload": payload, "audit_seq": audit_seq,
    }
    tx.execute(
        "INSERT INTO events (id, dedupe_key, issuance_id, received_at, payload, audit_seq, "
        "mac) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (*stored.values(), row_mac(keyring, "events", stored)),
    )
