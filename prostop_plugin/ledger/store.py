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

Integrity: issuances, transitions and events carry a keyed MAC (:mod:`.rowmac`); every
transition and every stored event is recorded by the ``journal`` (the audit chain, in the same
transaction) and names the audit entry that records it, so the audit can be checked against the
ledger row by row.

The database, its schema and transactions are in :mod:`prostop_plugin.ledger.schema` (SQLite or
PostgreSQL: :mod:`~prostop_plugin.ledger.backend`); leases in :mod:`prostop_plugin.ledger.leases`.
This module reads and writes the records.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import SecretStr, ValidationError

from prostop_plugin.errors import (
    DecryptionError,
    InvalidTransition,
    IssuanceNotFound,
    LedgerError,
)
from prostop_plugin.keys import KeyRing
from prostop_plugin.ledger.backend import Row, Tx
from prostop_plugin.ledger.leases import lease_free, owner_is_dead, process_identity
from prostop_plugin.ledger.records import (
    EpisodeHead,
    EventMatch,
    IssuanceSummary,
    Journal,
    OutboxEntry,
    OutboxStatus,
    event_content_digest,
)
from prostop_plugin.ledger.rowmac import row_mac
from prostop_plugin.ledger.rows import insert_event_row, insert_transition_row
from prostop_plugin.ledger.schema import SCHEMA_VERSION, LedgerDatabase, iso_utc, parse_utc
from prostop_plugin.models import DiagnosisEvent, IssuanceRecord, IssuanceState, PatientRef

__all__ = [
    "SCHEMA_VERSION",
    "EpisodeHead",
    "EventMatch",
    "IssuanceSummary",
    "Journal",
    "Ledger",
    "OutboxEntry",
    "OutboxStatus",
    "owner_is_dead",
    "process_identity",
]


class Ledger(LedgerDatabase):
    """The store. One instance may be shared by threads (one connection per thread, or a pool).

    ``location``: the SQLite file, or a ``postgresql://`` URL. ``journal``: what records every
    transition and event in the same transaction (the runtime passes the audit chain).
    """

    def __init__(
        self, location: Path | str, keyring: KeyRing, *, journal: Journal | None = None
    ) -> None:
        self.keyring = keyring
        self.journal = journal
        super().__init__(location)

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
        body = record.model_dump_json(exclude={"code"}).encode()  # the code has its own blob
        return self.keyring.encrypt(body, context=f"issuance:{record.id}".encode())

    def _open_row(self, row: Row, *, with_code: bool) -> IssuanceRecord:
        try:
            body = self.keyring.decrypt(row["body"], context=f"issuance:{row['id']}".encode())
            record = IssuanceRecord.model_validate_json(body)
        except (DecryptionError, ValidationError) as exc:
            raise LedgerError(
                f"its stored data cannot be read ({type(exc).__name__})",
                where=f"issuance {row['id']} in {self.where}",
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
        row = self.query_one("SELECT * FROM issuances WHERE id = ?", (issuance_id,))
        if row is None:
            raise IssuanceNotFound(
                "no such issuance", where=f"issuance {issuance_id}",
                fix="list them with 'prostop pending list' or 'prostop status'",
            )
        return self._open_row(row, with_code=with_code)

    def find_by_prefix(self, prefix: str) -> str:
        rows = self.query(
            "SELECT id FROM issuances WHERE id LIKE ? ORDER BY id LIMIT 2", (prefix + "%",)
        )
        if len(rows) == 1:
            return str(rows[0]["id"])
        what = "no issuance" if not rows else "several issuances"
        raise IssuanceNotFound(f"{what} with an id starting '{prefix}'", fix="give more of the id")

    def ids_in_states(self, *states: IssuanceState) -> list[str]:
        marks = ",".join("?" * len(states))
        rows = self.query(
            f"SELECT id FROM issuances WHERE state IN ({marks}) AND set_aside IS NULL "
            "ORDER BY created_at",
            [s.value for s in states],
        )
        return [str(r["id"]) for r in rows]

    def records_in_states(self, *states: IssuanceState) -> list[IssuanceRecord]:
        return [self.get(i) for i in self.ids_in_states(*states)]

    def summaries(self) -> list[IssuanceSummary]:
        rows = self.query(
            "SELECT id, state, created_at, updated_at, valid_until, code_last2, set_aside "
            "FROM issuances ORDER BY created_at"
        )
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
        rows = self.query(
            "SELECT * FROM issuances WHERE patient_key = ? ORDER BY created_at", (patient_key,)
        )
        return [self._open_row(r, with_code=False) for r in rows]

    def episode_events(self, episode: str) -> list[DiagnosisEvent]:
        """Every event of an episode, in arrival order (a plain read: no write lock)."""
        rows = self.query(
            "SELECT e.id, e.payload FROM events e JOIN issuances i ON i.id = e.issuance_id "
            "WHERE i.episode = ? ORDER BY e.id", (episode,),
        )
        return [
            DiagnosisEvent.model_validate_json(
                self.keyring.decrypt(bytes(r["payload"]), context=f"event:{r['id']}".encode())
            )
            for r in rows
        ]

    def event_count(self) -> int:
        row = self.query_one("SELECT count(*) AS n FROM events")
        return int(row["n"]) if row else 0

    def transitions(self, issuance_id: str) -> list[tuple[str | None, str, str]]:
        rows = self.query(
            "SELECT from_state, to_state, actor FROM transitions WHERE issuance_id = ? "
            "ORDER BY seq", (issuance_id,),
        )
        return [(r["from_state"], r["to_state"], r["actor"]) for r in rows]

    def outbox_entry(self, issuance_id: str) -> OutboxEntry | None:
        row = self.query_one("SELECT * FROM outbox WHERE issuance_id = ?", (issuance_id,))
        if row is None:
            return None
        return OutboxEntry(
            issuance_id=row["issuance_id"], attempts=row["attempts"],
            next_attempt_at=datetime.fromisoformat(row["next_attempt_at"]),
            last_error=row["last_error"], status=OutboxStatus(row["status"]),
        )

    def due_write_backs(self, now: datetime) -> list[str]:
        rows = self.query(
            "SELECT issuance_id FROM outbox WHERE status = 'pending' AND next_attempt_at <= ? "
            "ORDER BY next_attempt_at", (iso_utc(now),),
        )
        return [str(r["issuance_id"]) for r in rows]

    def expired_candidates(self, now: datetime) -> list[str]:
        rows = self.query(
            "SELECT id FROM issuances WHERE valid_until IS NOT NULL AND valid_until < ? "
            "AND state IN ('issued', 'written_back', 'write_back_failed') "
            "AND set_aside IS NULL", (iso_utc(now),),
        )
        return [str(r["id"]) for r in rows]

    # -- writes ----------------------------------------------------------------------------

    def set_aside_reason(self, issuance_id: str) -> str | None:
        row = self.query_one("SELECT set_aside FROM issuances WHERE id = ?", (issuance_id,))
        return None if row is None else row["set_aside"]

    def set_aside(self, issuance_id: str, reason: str | None) -> None:
        """Skip (``reason``) or take back (``None``) a row that recovery cannot advance."""
        with self.transaction() as tx:
            tx.execute("UPDATE issuances SET set_aside = ? WHERE id = ?", (reason, issuance_id))

    def _dedupe_keys(self, event: DiagnosisEvent) -> tuple[str, str]:
        """The event's key by its id (MSH-10, file hash…) and by its id *and* its content.

        A sender whose counter restarts reuses message ids: the second key tells a different
        message under a seen id apart from a resend of the same one.
        """
        last = getattr(self._local, "keys", None)
        if last is not None and last[0] is event:  # find_event, then insert_event
            return last[1]  # type: ignore[no-any-return]
        identity = event.source.dedupe_key()
        keys = (
            self.keyring.digest(identity, purpose="dedupe"),
            self.keyring.digest(f"{identity}|{event_content_digest(event)}", purpose="dedupe"),
        )
        self._local.keys = (event, keys)
        return keys

    def insert_event(
        self, tx: Tx, event: DiagnosisEvent, issuance_id: str, *,
        reused_id: bool = False, audit_seq: int | None = None, body: str | None = None,
    ) -> None:
        """Store an event under an issuance, inside the caller's transaction.

        ``reused_id``: another message was stored under this event's id; this one is filed
        under its id and content (see :meth:`find_event`). ``audit_seq``: the entry that
        already records this event (the one opening its issuance); otherwise the journal
        records it now. ``body``: ``event.model_dump_json()``, when the caller has it.
        """
        by_id, by_content = self._dedupe_keys(event)
        insert_event_row(
            tx, self.keyring, self.journal, dedupe_key=by_content if reused_id else by_id,
            issuance_id=issuance_id, received_at=iso_utc(event.source.received_at),
            body=body or event.model_dump_json(), audit_seq=audit_seq,
        )

    def has_event(self, event: DiagnosisEvent) -> bool:
        """Whether this event (same id, same content) is already stored: a plain read."""
        return self.find_event(None, event).issuance_id is not None

    def issuance_for_event(self, tx: Tx | None, event: DiagnosisEvent) -> str | None:
        return self.find_event(tx, event).issuance_id

    def find_event(self, tx: Tx | None, event: DiagnosisEvent) -> EventMatch:
        """Whether the event is stored already: same id *and* same content.

        A different content under a stored id is no duplicate: it comes back with
        ``reused_id`` set, to be stored (under its id and content) rather than dropped.
        """
        by_id, by_content = self._dedupe_keys(event)
        rows = {
            row["dedupe_key"]: row for row in self.query(
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
            self.keyring.decrypt(bytes(first["payload"]), context=f"event:{first['id']}".encode())
        )
        if event_content_digest(stored) == event_content_digest(event):
            return EventMatch(str(first["issuance_id"]), reused_id=False)
        return EventMatch(None, reused_id=True)

    def latest_in_patient(self, tx: Tx | None, patient_key: str) -> EpisodeHead | None:
        """The patient's newest issuance: where a new event of theirs may belong."""
        row = self.query_one(
            "SELECT id, episode, episode_start, state FROM issuances WHERE patient_key = ? "
            f"ORDER BY created_at DESC, {self.dialect.insertion_order} DESC LIMIT 1",
            (patient_key,),
        )
        if row is None:
            return None
        return EpisodeHead(
            issuance_id=row["id"], episode=row["episode"],
            episode_start=date.fromisoformat(row["episode_start"]),
            state=IssuanceState(row["state"]),
        )

    def insert_issuance(
        self, tx: Tx, record: IssuanceRecord, *, patient_key: str,
        episode_start: date, actor: str, evaluated: IssuanceRecord | None = None,
    ) -> int | None:
        """Insert a new issuance and its first transition; return the audit entry's number.
        ``evaluated``: as its evaluation left it, written instead of a second write."""
        final = evaluated or record
        columns: dict[str, Any] = {
            "id": record.id, "patient_key": patient_key, "episode": record.episode,
            "episode_start": episode_start.isoformat(), "state": final.state.value,
            "created_at": iso_utc(record.created_at), "updated_at": iso_utc(final.updated_at),
            "valid_until": None, "replaces": record.replaces, "code_digest": None,
            "code_last2": None, "body": self._seal_record(final),
        }
        tx.execute(f"INSERT INTO issuances ({', '.join(columns)}, mac) VALUES "
                   f"({', '.join('?' * (len(columns) + 1))})",
                   (*columns.values(), row_mac(self.keyring, "issuances", columns)))
        opened = self._insert_transition(tx, record, None, columns["created_at"], actor)
        if evaluated is not None:  # its evaluation's transition, by the system, after it
            self._insert_transition(tx, evaluated, record.state, columns["updated_at"], "system")
        return opened

    def _insert_transition(
        self, tx: Tx, record: IssuanceRecord, previous: IssuanceState | None, at: str,
        actor: str,
    ) -> int | None:
        return insert_transition_row(tx, self.keyring, self.journal, record, previous, at,
                                     actor)

    def save(
        self, tx: Tx, record: IssuanceRecord, *,
        expect: IssuanceState | tuple[IssuanceState, ...], actor: str,
        lease_seconds: float | None = None, now: datetime,
    ) -> IssuanceState:
        """Write ``record`` (its new state and fields) if its stored state is ``expect``.

        Returns the previous state. Sets a lease for this process when ``lease_seconds`` is
        given, clears it otherwise. Raises InvalidTransition when another process got there
        first (the caller reloads and stops).
        """
        expected = (expect,) if isinstance(expect, IssuanceState) else expect
        row = tx.execute(
            "SELECT state, lease_owner, lease_until, patient_key, episode_start, created_at, "
            f"replaces FROM issuances WHERE id = ?{self.dialect.for_update}", (record.id,)
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
        columns: dict[str, Any] = {
            "id": record.id, "patient_key": row["patient_key"], "episode": record.episode,
            "episode_start": row["episode_start"], "state": record.state.value,
            "created_at": row["created_at"], "updated_at": iso_utc(now),
            "valid_until": iso_utc(record.valid_until) if record.valid_until else None,
            "replaces": row["replaces"], "code_digest": record.code_digest,
            "code_last2": record.code_last2, "body": self._seal_record(record),
        }
        tx.execute(
            "UPDATE issuances SET state = ?, updated_at = ?, valid_until = ?, "
            "code_blob = COALESCE(?, code_blob), code_digest = ?, code_last2 = ?, "
            "lease_owner = ?, lease_until = ?, body = ?, mac = ? WHERE id = ?",
            (
                columns["state"], columns["updated_at"], columns["valid_until"],
                code_blob, record.code_digest, record.code_last2, lease_owner, lease_until,
                columns["body"], row_mac(self.keyring, "issuances", columns), record.id,
            ),
        )
        if previous != record.state:
            self._insert_transition(tx, record, previous, iso_utc(now), actor)
        return previous

    @staticmethod
    def _lease_free(row: Row, now: datetime) -> bool:
        return lease_free(row["lease_owner"], parse_utc(row["lease_until"]), now)

    def lease_free(self, issuance_id: str, now: datetime) -> bool:
        row = self.query_one(
            "SELECT lease_owner, lease_until FROM issuances WHERE id = ?", (issuance_id,)
        )
        return row is not None and self._lease_free(row, now)

    def claim(
        self, states: tuple[IssuanceState, ...], now: datetime, *, seconds: float,
        limit: int = 500,
    ) -> list[str]:
        """Ids in ``states`` to resume, oldest first. PostgreSQL (several workers): rows with
        a free lease picked ``FOR UPDATE SKIP LOCKED`` outside the write lock and leased to
        this thread for ``seconds`` (:meth:`release` gives back the unused); SQLite (one
        writer at a time): nothing leased, each step's compare-and-set suffices."""
        if self.dialect.name != "postgresql":
            return self.ids_in_states(*states)
        marks = ",".join("?" * len(states))
        with self.transaction(serialised=False) as tx:
            rows = tx.execute(
                "SELECT id, lease_owner, lease_until FROM issuances "
                f"WHERE state IN ({marks}) AND set_aside IS NULL "
                "ORDER BY created_at LIMIT ? FOR UPDATE SKIP LOCKED",
                [*(s.value for s in states), limit],
            ).fetchall()
            ids = [str(r["id"]) for r in rows if self._lease_free(r, now)]
            if ids:
                tx.execute(
                    "UPDATE issuances SET lease_owner = ?, lease_until = ? WHERE id IN "
                    f"({','.join('?' * len(ids))})",
                    [process_identity(), iso_utc(now + timedelta(seconds=seconds)), *ids],
                )
        return ids

    def release(self, ids: list[str]) -> None:
        """Give back this thread's leases on ``ids`` that no step took over (PostgreSQL)."""
        if self.dialect.name != "postgresql" or not ids:
            return
        with self.transaction(serialised=False) as tx:
            tx.execute(
                "UPDATE issuances SET lease_owner = NULL, lease_until = NULL "
                f"WHERE lease_owner = ? AND id IN ({','.join('?' * len(ids))})",
                [process_identity(), *ids],
            )

    def schedule_write_back(
        self, tx: Tx, issuance_id: str, *, at: datetime,
        attempts: int = 0, error: str | None = None,
        status: OutboxStatus = OutboxStatus.PENDING,
    ) -> None:
        tx.execute(
            "INSERT INTO outbox (issuance_id, attempts, next_attempt_at, last_error, status) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT(issuance_id) DO UPDATE SET "
            "attempts = excluded.attempts, next_attempt_at = excluded.next_attempt_at, "
            "last_error = excluded.last_error, status = excluded.status",
            (issuance_id, attempts, iso_utc(at), error, status.value),
        )
