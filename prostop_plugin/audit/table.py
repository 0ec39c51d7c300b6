"""The audit chain in the ledger's database: entries appended in the ledger's own transaction.

Same chain as the file log (:mod:`~prostop_plugin.audit.log`): each entry's ``hash`` is the
SHA-256 of its canonical JSON (``prev_hash`` included) and is signed with Ed25519; the table
``audit_head`` holds the signed last entry, rewritten once per transaction, so that entries cut
off at the end are noticed. Since a ledger step and its entries commit together, a crash can
no longer leave a step unaudited, and one commit (one sync) covers both.

Writers are serialised by the database (SQLite's write lock, PostgreSQL's advisory write
lock: see :mod:`prostop_plugin.ledger.backend`), so reading the tail and appending after it
is safe. This module needs from a transaction only ``execute``, ``state`` and
``before_commit``; reads go through a ``query(sql, params)`` callable.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, TextIO

from prostop_plugin.audit.chain import (
    GENESIS_HASH,
    AuditVerification,
    ChainWalk,
    b64encode,
    canonical,
    entry_hash,
    head_message,
)
from prostop_plugin.audit.log import AuditEntry, DetailValue, checked_fields
from prostop_plugin.audit.plugin import transition_details
from prostop_plugin.keys import KeyRing
from prostop_plugin.models import IssuanceRecord, IssuanceState

#: how the head is named in what verify says
HEAD_LABEL = "the signed head (table audit_head)"
_PAGE = 2000
_TAIL = "audit_tail"
_DIRTY = "audit_dirty"

Query = Callable[[str, Sequence[object]], list[Any]]


class Transaction(Protocol):
    state: dict[str, Any]

    def execute(self, text: str, params: Sequence[object] = ()) -> Any: ...

    def before_commit(self, key: str, callback: Callable[[Any], None]) -> None: ...


class AuditTable:
    """Appends to, reads and verifies the chain kept in the ledger's database.

    It is the ledger's journal: :meth:`record_transition` and :meth:`record_event` are called
    by the ledger inside the transaction that commits the step.
    """

    def __init__(self, keyring: KeyRing) -> None:
        self.keyring = keyring

    # -- writing (inside the caller's transaction) --------------------------------------------

    def append(
        self, tx: Transaction, *, actor: str, action: str, issuance_id: str | None = None,
        episode: str | None = None, details: Mapping[str, DetailValue] | None = None,
        at: datetime | None = None,
    ) -> AuditEntry:
        return AuditEntry.from_fields(self._append(
            tx, actor=actor, action=action, issuance_id=issuance_id, episode=episode,
            details=details, at=at,
        ))

    def _append(
        self, tx: Transaction, *, actor: str, action: str, issuance_id: str | None,
        episode: str | None, details: Mapping[str, DetailValue] | None = None,
        at: datetime | None = None,
    ) -> dict[str, Any]:
        """The entry appended, as its fields (the ledger's journal needs only its number)."""
        fields = checked_fields(actor=actor, action=action, issuance_id=issuance_id,
                                episode=episode, details=details, at=at)
        last_seq, last_hash = self._tail(tx)
        fields["seq"] = last_seq + 1
        fields["prev_hash"] = last_hash
        fields["hash"] = entry_hash(fields)
        fields["signature"] = b64encode(self.keyring.sign(fields["hash"].encode("ascii")))
        self._insert(tx, fields)
        tx.before_commit("audit-head", self._seal)
        return fields

    def record_transition(
        self, tx: Transaction, record: IssuanceRecord, previous: IssuanceState | None
    ) -> int:
        confirmation = record.confirmation
        fields = self._append(
            tx, actor=confirmation.practitioner.national_id if confirmation else "system",
            action=f"transition:{record.state.value}", issuance_id=record.id,
            episode=record.episode, details=transition_details(record, previous),
        )
        return int(fields["seq"])

    def record_event(self, tx: Transaction, issuance_id: str, episode: str) -> int:
        fields = self._append(tx, actor="system", action="event_stored",
                              issuance_id=issuance_id, episode=episode)
        return int(fields["seq"])

    @staticmethod
    def _insert(tx: Transaction, fields: Mapping[str, Any]) -> None:
        """One entry into the table; it is the chain's new tail, the head to sign anew."""
        tx.execute(
            "INSERT INTO audit (seq, at, actor, action, issuance_id, episode, details, "
            "prev_hash, hash, signature) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (fields["seq"], fields["at"], fields["actor"], fields["action"],
             fields["issuance_id"], fields["episode"],
             canonical(fields["details"]).decode("ascii"), fields["prev_hash"],
             fields["hash"], fields["signature"]),
        )
        tx.state[_TAIL] = (fields["seq"], fields["hash"])
        tx.state[_DIRTY] = True

    def _tail(self, tx: Transaction) -> tuple[int, str]:
        tail: tuple[int, str] | None = tx.state.get(_TAIL)
        if tail is None:
            row = tx.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
            tail = (int(row["seq"]), str(row["hash"])) if row else (0, GENESIS_HASH)
            tx.state[_TAIL] = tail
        return tail

    def _seal(self, tx: Transaction) -> None:
        """Write the signed head once, just before the transaction commits."""
        if not tx.state.get(_DIRTY):
            return
        seq, last_hash = tx.state[_TAIL]
        signature = b64encode(self.keyring.sign(head_message(seq, last_hash)))
        tx.execute(
            "INSERT INTO audit_head (id, seq, hash, signature) VALUES (1, ?, ?, ?) "
            "ON CONFLICT(id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, "
            "signature = excluded.signature",
            (seq, last_hash, signature),
        )
        tx.state[_DIRTY] = False

    def import_entries(self, tx: Transaction, entries: Sequence[Mapping[str, Any]]) -> None:
        """Copy verified entries of the file log, as they are (same numbers, hashes and
        signatures), into an empty table; the head is signed anew at commit."""
        for fields in entries:
            self._insert(tx, fields)
        if entries:
            tx.before_commit("audit-head", self._seal)

    # -- reading -------------------------------------------------------------------------------

    def rows(self, query: Query) -> Iterator[dict[str, Any]]:
        """Every entry's fields, in order, page by page (never the whole table in memory)."""
        after = 0
        while True:
            page = query(
                "SELECT seq, at, actor, action, issuance_id, episode, details, prev_hash, hash, "
                "signature FROM audit WHERE seq > ? ORDER BY seq LIMIT ?", (after, _PAGE),
            )
            for row in page:
                fields = {name: row[name] for name in (
                    "seq", "at", "actor", "action", "issuance_id", "episode", "prev_hash",
                    "hash", "signature")}
                try:
                    fields["details"] = json.loads(row["details"])
                except (TypeError, ValueError):
                    fields["details"] = row["details"]  # the shape check names it
                yield fields
            if len(page) < _PAGE:
                return
            after = int(page[-1]["seq"])

    def _walk(self, query: Query) -> tuple[ChainWalk, Iterator[dict[str, Any]]]:
        head = query("SELECT seq, hash, signature FROM audit_head WHERE id = 1", ())
        head_bytes = None if not head else canonical(
            {"seq": head[0]["seq"], "hash": head[0]["hash"],
             "signature": head[0]["signature"]})
        walk = ChainWalk(self.keyring, Path(HEAD_LABEL), head_bytes, head_label=HEAD_LABEL)
        lines = (canonical(fields) + b"\n" for fields in self.rows(query))
        return walk, walk.run(lines)

    def verify(self, query: Query) -> AuditVerification:
        """The chain alone: every entry, its hash and signature, and the end against the head."""
        walk, fields = self._walk(query)
        for _ in fields:
            pass
        return walk.result()

    def entries(self, query: Query) -> Iterator[AuditEntry]:
        """The verified entries, in order, up to the first broken one."""
        _, fields = self._walk(query)
        for item in fields:
            yield AuditEntry.from_fields(item)

    def export(self, query: Query, out: TextIO) -> int:
        """Write the verified entries as JSON lines (the file log's format); return how many."""
        _, fields = self._walk(query)
        count = 0
        for item in fields:
            out.write(canonical(item).decode("ascii") + "\n")
            count += 1
        return count
