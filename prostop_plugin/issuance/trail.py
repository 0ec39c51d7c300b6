"""The audit trail as the runtime and ``prostop audit`` see it: the chain in the ledger, checked
against the ledger, and the file log of earlier versions carried into it once.

Earlier versions kept the chain in ``audit.jsonl`` (+ ``.head``), appended after each ledger
commit. On the first start of this version (schema 3), the file is verified and, when intact,
its entries are copied into the ledger's ``audit`` table as they are (same numbers, hashes and
signatures: the chain goes on from its last entry); the files are then renamed
``*.imported`` and kept. Transitions and events of that time are linked to the entry recording
them; those the file lacks (lost by a crash between the two writes, the defect this version
removes) get an entry marked ``backfilled``, and ``audit verify`` says how many. A damaged file
is not carried over: starting is refused until it is moved aside (kept as evidence).
"""

from __future__ import annotations

import io
import json
from collections import defaultdict, deque
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, TextIO

from prostop_plugin.audit import AuditEntry, AuditLog, AuditVerification, DetailValue
from prostop_plugin.audit.log import HEAD_SUFFIX
from prostop_plugin.audit.table import AuditTable
from prostop_plugin.config import Settings
from prostop_plugin.errors import AuditError
from prostop_plugin.issuance.audit_check import verify_against_ledger
from prostop_plugin.keys import KeyRing
from prostop_plugin.ledger import Ledger, Tx
from prostop_plugin.ledger.rowmac import row_mac

IMPORTED_SUFFIX = ".imported"
BACKFILLED = "backfilled"


class AuditTrail:
    """The ledger's audit chain: append (in a transaction of its own, or the caller's),
    read, export, and verify against the ledger."""

    def __init__(self, ledger: Ledger, table: AuditTable) -> None:
        self.ledger = ledger
        self.table = table

    def append(
        self, *, actor: str, action: str, issuance_id: str | None = None,
        episode: str | None = None, details: Mapping[str, DetailValue] | None = None,
    ) -> AuditEntry:
        with self.ledger.transaction() as tx:
            return self.table.append(tx, actor=actor, action=action, issuance_id=issuance_id,
                                     episode=episode, details=details)

    def verify(self) -> AuditVerification:
        """The chain, then the ledger against it (:mod:`.audit_check`)."""
        return verify_against_ledger(self.ledger, self.table)

    def entries(self) -> Iterator[AuditEntry]:
        return self.table.entries(self.ledger.query)

    def export(self, out: TextIO) -> int:
        return self.table.export(self.ledger.query, out)

    def backfilled(self) -> int:
        """How many entries were written at migration for steps the file log lacked."""
        row = self.ledger.query_one(
            "SELECT count(*) AS n FROM audit WHERE details LIKE ?", (f'%"{BACKFILLED}"%',)
        )
        return int(row["n"]) if row else 0

    # -- the file log of earlier versions ------------------------------------------------------

    def adopt_legacy(self, log_path: Path) -> bool:
        """Carry the file log into the ledger once (see the module's docstring)."""
        if not self.ledger.query("SELECT pending FROM legacy_adoption"):
            return False
        keyring = self.ledger.keyring
        imported = False
        with self.ledger.transaction() as tx:
            if not tx.execute("SELECT pending FROM legacy_adoption").fetchall():
                return False  # another process did it meanwhile
            entries: list[dict[str, Any]] = []
            empty = tx.execute("SELECT seq FROM audit LIMIT 1").fetchone() is None
            if empty and log_path.exists():
                log = AuditLog(log_path, keyring)
                result = log.verify()
                if not result.ok:
                    raise AuditError(
                        f"the audit log of the previous version cannot be carried into the "
                        f"ledger: {result.problem}", where=str(log_path),
                        fix=f"keep it as evidence: move it and its {HEAD_SUFFIX} file to "
                        "another folder (they stay verifiable there), then start again",
                    )
                entries = [json.loads(line) for line in _exported(log)]
                self.table.import_entries(tx, entries)
                imported = bool(entries)
            self._link_transitions(tx, entries)
            self._link_events(tx)
            self._seal_issuances(tx)
            tx.execute("DELETE FROM legacy_adoption")
        if imported:
            for path in (log_path, log_path.with_name(log_path.name + HEAD_SUFFIX)):
                if path.exists():
                    path.rename(path.with_name(path.name + IMPORTED_SUFFIX))
        return imported

    def _link_transitions(self, tx: Tx, entries: list[dict[str, Any]]) -> None:
        waiting: dict[tuple[Any, ...], deque[int]] = defaultdict(deque)
        for fields in entries:
            if str(fields["action"]).startswith("transition:"):
                key = (fields["issuance_id"], fields["action"],
                       fields["details"].get("previous"))
                waiting[key].append(int(fields["seq"]))
        rows = tx.execute(
            "SELECT t.seq, t.issuance_id, t.from_state, t.to_state, t.at, t.actor, i.episode "
            "FROM transitions t JOIN issuances i ON i.id = t.issuance_id "
            "WHERE t.audit_seq IS NULL ORDER BY t.seq"
        ).fetchall()
        for row in rows:
            key = (row["issuance_id"], f"transition:{row['to_state']}", row["from_state"])
            if waiting[key]:
                audit_seq = waiting[key].popleft()
            else:
                audit_seq = self.table.append(
                    tx, actor="system", action=f"transition:{row['to_state']}",
                    issuance_id=row["issuance_id"], episode=row["episode"],
                    details={"previous": row["from_state"], BACKFILLED: "at migration: the "
                             "file log had no entry for this transition"},
                ).seq
            stored = dict(row) | {"audit_seq": audit_seq}
            tx.execute("UPDATE transitions SET audit_seq = ?, mac = ? WHERE seq = ?",
                       (audit_seq, row_mac(self.ledger.keyring, "transitions", stored),
                        row["seq"]))

    def _link_events(self, tx: Tx) -> None:
        rows = tx.execute(
            "SELECT e.id, e.dedupe_key, e.issuance_id, e.received_at, e.payload, i.episode, "
            "(SELECT min(e2.id) FROM events e2 WHERE e2.issuance_id = e.issuance_id) AS first, "
            "(SELECT t.audit_seq FROM transitions t WHERE t.issuance_id = e.issuance_id "
            " AND t.from_state IS NULL ORDER BY t.seq LIMIT 1) AS opened "
            "FROM events e JOIN issuances i ON i.id = e.issuance_id "
            "WHERE e.audit_seq IS NULL ORDER BY e.id"
        ).fetchall()
        for row in rows:
            audit_seq = row["opened"] if row["id"] == row["first"] else None
            if audit_seq is None:
                audit_seq = self.table.append(
                    tx, actor="system", action="event_stored", issuance_id=row["issuance_id"],
                    episode=row["episode"],
                    details={BACKFILLED: "at migration: stored before events were audited"},
                ).seq
            stored = dict(row) | {"audit_seq": audit_seq}
            tx.execute("UPDATE events SET audit_seq = ?, mac = ? WHERE id = ?",
                       (audit_seq, row_mac(self.ledger.keyring, "events", stored), row["id"]))

    def _seal_issuances(self, tx: Tx) -> None:
        rows = tx.execute("SELECT * FROM issuances WHERE mac IS NULL").fetchall()
        for row in rows:
            tx.execute("UPDATE issuances SET mac = ? WHERE id = ?",
                       (row_mac(self.ledger.keyring, "issuances", row), row["id"]))


def open_trail(settings: Settings) -> AuditTrail:
    """The trail of an installation, for ``prostop audit`` and ``doctor`` (keys must exist;
    the ledger is migrated, and the file log carried in, as a start would). Close its
    ``ledger`` when done."""
    keyring = KeyRing.open(settings.key_dir, create=False)
    table = AuditTable(keyring)
    ledger = Ledger(settings.ledger_location, keyring, journal=table)
    try:
        trail = AuditTrail(ledger, table)
        trail.adopt_legacy(settings.audit_path)
    except BaseException:
        ledger.close()
        raise
    return trail


def _exported(log: AuditLog) -> list[str]:
    out = io.StringIO()
    log.export(out)
    return out.getvalue().splitlines()
