"""The ledger: one SQLite file (WAL) with events, issuances, transitions and the write-back outbox.

Guarantees it gives the engine:

* every write is one transaction (``BEGIN IMMEDIATE``), so readers never see half a step;
* an event is stored once per dedupe key; a repeat is answered with the issuance it joined;
* state changes are compare-and-set on the current state, so two processes can never both move
  ``approved → issuing`` (which would issue two codes);
* work done outside a transaction (asking the code service, writing back) is covered by a lease
  naming its owner process, so a crashed owner's work is taken over at restart and a live
  owner's is left alone.

Privacy at rest: patient data and the code live only in AES-GCM blobs; indexed columns hold
keyed digests (patient, episode) and non-identifying values (state, dates).

The file, its schema and transactions are in :mod:`prostop_plugin.ledger.schema`; leases in
:mod:`prostop_plugin.ledger.leases`. This module reads and writes the records.
"""

from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from pathlib import Path

from pydantic import SecretStr, ValidationError

from prostop_plugin.errors import (
    DecryptionError,
    InvalidTransition,
    IssuanceNotFound,
    LedgerError,
)
from prostop_plugin.keys import KeyRing
from prostop_plugin.ledger.leases import lease_free, owner_is_dead, process_identity
from prostop_plugin.ledger.schema import SCHEMA_VERSION, LedgerDatabase, iso_utc, parse_utc
from prostop_plugin.models import DiagnosisEvent, IssuanceRecord, IssuanceState, PatientRef

__all__ = [
    "SCHEMA_VERSION",
    "EpisodeHead",
    "EventMatch",
    "IssuanceSummary",
    "Ledger",
    "OutboxEntry",
    "OutboxStatus",
    "owner_is_dead",
    "process_identity",
]


class OutboxStatus(StrEnum):
    """Where a write-back stands in the outbox."""

    PENDING = "pending"  #: to be attempted at ``next_attempt_at``
    DONE = "done"  #: an adapter took it
    FAILED = "failed"  #: attempts exhausted: shown to the physician, ``prostop retry`` re-arms it
    EXPIRED = "expired"  #: the code expired before it could be written back


@dataclass(frozen=True)
class OutboxEntry:
    issuance_id: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    status: OutboxStatus


@dataclass(frozen=True)
class EventMatch:
    """What the ledger holds of an incoming event (see :meth:`Ledger.find_event`)."""

    issuance_id: str | None  #: the issuance the same event joined, None when not stored
    reused_id: bool  #: another content was stored under this event's id


def event_content_digest(event: DiagnosisEvent) -> str:
    """What makes two events the same message: patient, practitioner and evidence.

    Not the source (a resend is received at another time) nor defaults filled on reading.
    """
    content = event.model_dump_json(include={"patient", "practitioner", "evidence"})
    return hashlib.sha256(content.encode()).hexdigest()


@dataclass(frozen=True)
class EpisodeHead:
    """A patient's newest issuance, read inside the transaction that files a new event."""

    issuance_id: str
    episode: str
    episode_start: date
    state: IssuanceState


@dataclass(frozen=True)
class IssuanceSummary:
    """Non-identifying columns, readable without decrypting (stats, doctor, listings)."""

    id: str
    state: IssuanceState
    created_at: datetime
    updated_at: datetime
    valid_until: datetime | None
    code_last2: str | None
    set_aside: str | None = None  #: why recovery skips this row (see Ledger.set_aside)


class Ledger(LedgerDatabase):
    """The SQLite store. One instance may be shared by threads (one connection per thread)."""

    def __init__(self, path: Path, keyring: KeyRing) -> None:
        self.keyring = keyring
        super().__init__(path)

    # -- encryption helpers ----------------------------------------------------------------

    def patient_key(self, event: DiagnosisEvent) -> str:
        """Pseudonymous patient key: the INS when known (same person across senders)."""
        return self.patient_key_for(event.patient, event.source.host)

    def patient_key_for(self, patient: PatientRef, host: str) -> str:
        if patient.ins:
            return self.keyring.digest(f"ins:{patient.ins}", purpose="patient")
        return self.keyring.digest(f"host:{host}|{patient.host_patient_id}", purpose="patient")

    def episode_key(self, patient_key: str, start: date) -> str:
        return self.keyring.digest(f"{patient_key}|{start.isoformat()}", purpose="episode")[:20]

    def _seal_record(self, record: IssuanceRecord) -> bytes:
        body = record.model_copy(update={"code": None}).model_dump_json().encode()
        return self.keyring.encrypt(body, context=f"issuance:{record.id}".encode())

    def _open_row(self, row: sqlite3.Row, *, with_code: bool) -> IssuanceRecord:
        try:
            body = self.keyring.decrypt(row["body"], context=f"issuance:{row['id']}".encode())
            record = IssuanceRecord.model_validate_json(body)
        except (DecryptionError, ValidationError) as exc:
            raise LedgerError(
                f"its stored data cannot be read ({type(exc).__name__})",
                where=f"issuance {row['id']} in {self.path}",
                fix="the others are unaffected; restore the ledger and keys from the same "
                "backup, or leave this issuance set aside ('prostop status' lists it)",
            ) from None
        record.state = IssuanceState(row["state"])
        if with_code and row["code_blob"] is not None:
            code = self.keyring.decrypt(row["code_blob"], context=f"code:{row['id']}".encode())
            record.code = SecretStr(code.decode())
        return record

    # -- reads -----------------------------------------------------------------------------

    def get(self, issuance_id: str, *, with_code: bool = False) -> IssuanceRecord:
        row = self._connection().execute(
            "SELECT * FROM issuances WHERE id = ?", (issuance_id,)
        ).fetchone()
        if row is None:
            raise IssuanceNotFound(
                "no such issuance", where=f"issuance {issuance_id}",
                fix="list them with 'prostop pending list' or 'prostop status'",
            )
        return self._open_row(row, with_code=with_code)

    def find_by_prefix(self, prefix: str) -> str:
        rows = self._connection().execute(
            "SELECT id FROM issuances WHERE id LIKE ? ORDER BY id LIMIT 2", (prefix + "%",)
        ).fetchall()
        if len(rows) == 1:
            return str(rows[0]["id"])
        what = "no issuance" if not rows else "several issuances"
        raise IssuanceNotFound(f"{what} with an id starting '{prefix}'", fix="give more of the id")

    def ids_in_states(self, *states: IssuanceState) -> list[str]:
        marks = ",".join("?" * len(states))
        rows = self._connection().execute(
            f"SELECT id FROM issuances WHERE state IN ({marks}) AND set_aside IS NULL "
            "ORDER BY created_at",
            [s.value for s in states],
        ).fetchall()
        return [str(r["id"]) for r in rows]

    def records_in_states(self, *states: IssuanceState) -> list[IssuanceRecord]:
        return [self.get(i) for i in self.ids_in_states(*states)]

    def summaries(self) -> list[IssuanceSummary]:
        rows = self._connection().execute(
            "SELECT id, state, created_at, updated_at, valid_until, code_last2, set_aside "
            "FROM issuances ORDER BY created_at"
        ).fetchall()
        return [
            IssuanceSummary(
                id=r["id"], state=IssuanceState(r["state"]),
                created_at=datetime.fromisoformat(r["created_at"]),
                updated_at=datetime.fromisoformat(r["updated_at"]),
                valid_until=parse_utc(r["valid_until"]), code_last2=r["code_last2"],
                set_aside=r["set_aside"],
            )
            for r in rows
        ]

    def patient_history(self, patient_key: str) -> list[IssuanceRecord]:
        rows = self._connection().execute(
            "SELECT * FROM issuances WHERE patient_key = ? ORDER BY created_at", (patient_key,)
        ).fetchall()
        return [self._open_row(r, with_code=False) for r in rows]

    def episode_events(self, episode: str) -> list[DiagnosisEvent]:
        """Every event of an episode, in arrival order (a plain read: no write lock)."""
        rows = self._connection().execute(
            "SELECT e.id, e.payload FROM events e JOIN issuances i ON i.id = e.issuance_id "
            "WHERE i.episode = ? ORDER BY e.id", (episode,),
        ).fetchall()
        return [
            DiagnosisEvent.model_validate_json(
                self.keyring.decrypt(r["payload"], context=f"event:{r['id']}".encode())
            )
            for r in rows
        ]

    def event_count(self) -> int:
        return int(self._connection().execute("SELECT count(*) FROM events").fetchone()[0])

    def transitions(self, issuance_id: str) -> list[tuple[str | None, str, str]]:
        rows = self._connection().execute(
            "SELECT from_state, to_state, actor FROM transitions WHERE issuance_id = ? "
            "ORDER BY seq", (issuance_id,),
        ).fetchall()
        return [(r["from_state"], r["to_state"], r["actor"]) for r in rows]

    def outbox_entry(self, issuance_id: str) -> OutboxEntry | None:
        row = self._connection().execute(
            "SELECT * FROM outbox WHERE issuance_id = ?", (issuance_id,)
        ).fetchone()
        if row is None:
            return None
        return OutboxEntry(
            issuance_id=row["issuance_id"], attempts=row["attempts"],
            next_attempt_at=datetime.fromisoformat(row["next_attempt_at"]),
            last_error=row["last_error"], status=OutboxStatus(row["status"]),
        )

    def due_write_backs(self, now: datetime) -> list[str]:
        rows = self._connection().execute(
            "SELECT issuance_id FROM outbox WHERE status = 'pending' AND next_attempt_at <= ? "
            "ORDER BY next_attempt_at", (iso_utc(now),),
        ).fetchall()
        return [str(r["issuance_id"]) for r in rows]

    def expired_candidates(self, now: datetime) -> list[str]:
        rows = self._connection().execute(
            "SELECT id FROM issuances WHERE valid_until IS NOT NULL AND valid_until < ? "
            "AND state IN ('issued', 'written_back', 'write_back_failed') "
            "AND set_aside IS NULL", (iso_utc(now),),
        ).fetchall()
        return [str(r["id"]) for r in rows]

    # -- writes ----------------------------------------------------------------------------

    def set_aside_reason(self, issuance_id: str) -> str | None:
        row = self._connection().execute(
            "SELECT set_aside FROM issuances WHERE id = ?", (issuance_id,)
        ).fetchone()
        return None if row is None else row["set_aside"]

    def set_aside(self, issuance_id: str, reason: str | None) -> None:
        """Skip (``reason``) or take back (``None``) a row that recovery cannot advance."""
        with self.transaction() as conn:
            conn.execute(
                "UPDATE issuances SET set_aside = ? WHERE id = ?", (reason, issuance_id)
            )

    def _dedupe_keys(self, event: DiagnosisEvent) -> tuple[str, str]:
        """The event's key by its id (MSH-10, file hash…) and by its id *and* its content.

        A sender whose counter restarts reuses message ids: the second key tells a different
        message under a seen id apart from a resend of the same one.
        """
        identity = event.source.dedupe_key()
        return (
            self.keyring.digest(identity, purpose="dedupe"),
            self.keyring.digest(f"{identity}|{event_content_digest(event)}", purpose="dedupe"),
        )

    def insert_event(
        self, conn: sqlite3.Connection, event: DiagnosisEvent, issuance_id: str, *,
        reused_id: bool = False,
    ) -> None:
        """Store an event under an issuance, inside the caller's transaction.

        ``reused_id``: another message was stored under this event's id; this one is filed
        under its id and content (see :meth:`find_event`).
        """
        by_id, by_content = self._dedupe_keys(event)
        cursor = conn.execute(
            "INSERT INTO events (dedupe_key, issuance_id, received_at, payload) "
            "VALUES (?, ?, ?, x'')",
            (by_content if reused_id else by_id, issuance_id, iso_utc(event.source.received_at)),
        )
        row_id = cursor.lastrowid
        payload = self.keyring.encrypt(
            event.model_dump_json().encode(), context=f"event:{row_id}".encode()
        )
        conn.execute("UPDATE events SET payload = ? WHERE id = ?", (payload, row_id))

    def has_event(self, event: DiagnosisEvent) -> bool:
        """Whether this event (same id, same content) is already stored: a plain read."""
        return self.find_event(self._connection(), event).issuance_id is not None

    def issuance_for_event(self, conn: sqlite3.Connection, event: DiagnosisEvent) -> str | None:
        return self.find_event(conn, event).issuance_id

    def find_event(self, conn: sqlite3.Connection, event: DiagnosisEvent) -> EventMatch:
        """Whether the event is stored already: same id *and* same content.

        A different content under a stored id is no duplicate: it comes back with
        ``reused_id`` set, to be stored (under its id and content) rather than dropped.
        """
        by_id, by_content = self._dedupe_keys(event)
        rows = {
            row["dedupe_key"]: row for row in conn.execute(
                "SELECT id, dedupe_key, issuance_id, payload FROM events "
                "WHERE dedupe_key IN (?, ?)", (by_id, by_content),
            )
        }
        if by_content in rows:
            return EventMatch(str(rows[by_content]["issuance_id"]), reused_id=True)
        first = rows.get(by_id)
        if first is None:
            return EventMatch(None, reused_id=False)
        stored = DiagnosisEvent.model_validate_json(
            self.keyring.decrypt(first["payload"], context=f"event:{first['id']}".encode())
        )
        if event_content_digest(stored) == event_content_digest(event):
            return EventMatch(str(first["issuance_id"]), reused_id=False)
        return EventMatch(None, reused_id=True)

    def latest_in_patient(
        self, conn: sqlite3.Connection, patient_key: str
    ) -> EpisodeHead | None:
        """The patient's newest issuance: where a new event of theirs may belong."""
        row = conn.execute(
            "SELECT id, episode, episode_start, state FROM issuances WHERE patient_key = ? "
            "ORDER BY created_at DESC, rowid DESC LIMIT 1", (patient_key,),
        ).fetchone()
        if row is None:
            return None
        return EpisodeHead(
            issuance_id=row["id"], episode=row["episode"],
            episode_start=date.fromisoformat(row["episode_start"]),
            state=IssuanceState(row["state"]),
        )

    def insert_issuance(
        self, conn: sqlite3.Connection, record: IssuanceRecord, *, patient_key: str,
        episode_start: date, actor: str,
    ) -> None:
        conn.execute(
            "INSERT INTO issuances (id, patient_key, episode, episode_start, state, created_at, "
            "updated_at, replaces, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                record.id, patient_key, record.episode, episode_start.isoformat(),
                record.state.value, iso_utc(record.created_at), iso_utc(record.updated_at),
                record.replaces, self._seal_record(record),
            ),
        )
        conn.execute(
            "INSERT INTO transitions (issuance_id, from_state, to_state, at, actor) "
            "VALUES (?, NULL, ?, ?, ?)",
            (record.id, record.state.value, iso_utc(record.created_at), actor),
        )

    def save(
        self, conn: sqlite3.Connection, record: IssuanceRecord, *,
        expect: IssuanceState | tuple[IssuanceState, ...], actor: str,
        lease_seconds: float | None = None, now: datetime,
    ) -> IssuanceState:
        """Write ``record`` (its new state and fields) if its stored state is ``expect``.

        Returns the previous state. Sets a lease for this process when ``lease_seconds`` is
        given, clears it otherwise. Raises InvalidTransition when another process got there
        first (the caller reloads and stops).
        """
        expected = (expect,) if isinstance(expect, IssuanceState) else expect
        row = conn.execute(
            "SELECT state, lease_owner, lease_until FROM issuances WHERE id = ?", (record.id,)
        ).fetchone()
        if row is None:
            raise IssuanceNotFound("no such issuance", where=f"issuance {record.id}")
        previous = IssuanceState(row["state"])
        if previous not in expected:
            raise InvalidTransition(
                f"issuance is '{previous.value}', expected "
                + " or ".join(f"'{s.value}'" for s in expected),
                where=f"issuance {record.id}",
            )
        if not self._lease_free(row, now):
            raise InvalidTransition(
                f"issuance is being worked on by {row['lease_owner']}",
                where=f"issuance {record.id}", fix="wait for that process, or stop it",
            )
        record.updated_at = now
        code_blob = None
        if record.code is not None:
            code_blob = self.keyring.encrypt(
                record.code.get_secret_value().encode(), context=f"code:{record.id}".encode()
            )
        lease_owner = process_identity() if lease_seconds else None
        lease_until = iso_utc(now + timedelta(seconds=lease_seconds)) if lease_seconds else None
        conn.execute(
            "UPDATE issuances SET state = ?, updated_at = ?, valid_until = ?, "
            "code_blob = COALESCE(?, code_blob), code_digest = ?, code_last2 = ?, "
            "lease_owner = ?, lease_until = ?, body = ? WHERE id = ?",
            (
                record.state.value, iso_utc(now),
                iso_utc(record.valid_until) if record.valid_until else None,
                code_blob, record.code_digest, record.code_last2, lease_owner, lease_until,
                self._seal_record(record), record.id,
            ),
        )
        if previous != record.state:
            conn.execute(
                "INSERT INTO transitions (issuance_id, from_state, to_state, at, actor) "
                "VALUES (?, ?, ?, ?, ?)",
                (record.id, previous.value, record.state.value, iso_utc(now), actor),
            )
        return previous

    @staticmethod
    def _lease_free(row: sqlite3.Row, now: datetime) -> bool:
        return lease_free(row["lease_owner"], parse_utc(row["lease_until"]), now)

    def lease_free(self, issuance_id: str, now: datetime) -> bool:
        row = self._connection().execute(
            "SELECT lease_owner, lease_until FROM issuances WHERE id = ?", (issuance_id,)
        ).fetchone()
        return row is not None and self._lease_free(row, now)

    def schedule_write_back(
        self, conn: sqlite3.Connection, issuance_id: str, *, at: datetime,
        attempts: int = 0, error: str | None = None,
        status: OutboxStatus = OutboxStatus.PENDING,
    ) -> None:
        conn.execute(
            "INSERT INTO outbox (issuance_id, attempts, next_attempt_at, last_error, status) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT(issuance_id) DO UPDATE SET "
            "attempts = excluded.attempts, next_attempt_at = excluded.next_attempt_at, "
            "last_error = excluded.last_error, status = excluded.status",
            (issuance_id, attempts, iso_utc(at), error, status.value),
        )
