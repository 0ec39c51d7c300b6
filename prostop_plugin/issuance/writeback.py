"""The steps after the code is issued: writing it back through the outbox, and expiry."""

from __future__ import annotations

from datetime import timedelta

from prostop_plugin.config import Settings
from prostop_plugin.issuance.transitions import Transitions, log
from prostop_plugin.ledger import OutboxStatus
from prostop_plugin.models import IssuanceRecord, IssuanceState, LocalizedText, WriteBackReceipt
from prostop_plugin.texts import Message, localized

S = IssuanceState
#: how long one write-back attempt may hold the record before another process may take it
WRITE_BACK_LEASE_SECONDS = 300.0


class WriteBack:
    """Write-back and expiry, the unattended steps of an issued code."""

    def __init__(self, settings: Settings, transitions: Transitions) -> None:
        self.settings = settings
        self.transitions = transitions
        self.ledger = transitions.ledger
        self.hooks = transitions.hooks

    def attempt(self, record: IssuanceRecord) -> bool:
        """Hand the code to the adapters once; schedule the next try when none took it."""
        entry = self.ledger.outbox_entry(record.id)
        attempts = (entry.attempts if entry else 0) + 1
        expected = record.state
        self.transitions.save(record, expect=expected, lease=WRITE_BACK_LEASE_SECONDS)
        with_code = self.ledger.get(record.id, with_code=True)
        receipt: WriteBackReceipt | None = None
        problem = "no adapter took this write-back"
        try:
            receipt = self.hooks.write_back(with_code)
        except Exception as exc:
            problem = f"{type(exc).__name__}: {exc}"
            log.warning(
                "issuance %s: write-back attempt %d failed: %s", record.id, attempts, problem
            )
        now = self.transitions.clock()
        status: OutboxStatus
        if receipt is not None:
            record.state = S.WRITTEN_BACK
            record.receipts.append(receipt)
            record.error = None
            status, next_at, error = OutboxStatus.DONE, now, None
        else:
            cfg = self.settings.write_back
            delay = min(cfg.backoff_max, cfg.backoff_initial * (2 ** (attempts - 1)))
            exhausted = attempts >= cfg.max_attempts
            status = OutboxStatus.FAILED if exhausted else OutboxStatus.PENDING
            next_at, error = now + timedelta(seconds=delay), problem
            record.state = S.WRITE_BACK_FAILED
            message = localized(
                Message.WRITE_BACK_FAILED if exhausted else Message.WRITE_BACK_PENDING
            )
            record.error = LocalizedText(
                fr=f"{message.fr} ({problem})", en=f"{message.en} ({problem})"
            )
        with self.ledger.transaction() as tx:
            previous = self.ledger.save(tx, record, expect=expected, actor="system", now=now)
            self.ledger.schedule_write_back(
                tx, record.id, at=next_at, attempts=attempts, error=error, status=status
            )
            self.transitions.notify_after_commit(tx, record, previous)
        return receipt is not None

    def due(self, record: IssuanceRecord) -> bool:
        """A write-back of this record is waiting and its time has come."""
        entry = self.ledger.outbox_entry(record.id)
        return (
            entry is not None and entry.status == OutboxStatus.PENDING
            and entry.next_attempt_at <= self.transitions.clock()
        )

    def rearm(self, issuance_id: str) -> None:
        """Make a failed write-back due now (``prostop retry``)."""
        entry = self.ledger.outbox_entry(issuance_id)
        with self.ledger.transaction() as tx:
            self.ledger.schedule_write_back(
                tx, issuance_id, at=self.transitions.clock(),
                attempts=entry.attempts if entry else 0, status=OutboxStatus.PENDING,
                error=entry.last_error if entry else None,
            )

    def expire_if_due(self, record: IssuanceRecord) -> bool:
        now = self.transitions.clock()
        if record.valid_until is None or record.valid_until > now:
            return False
        expected = record.state
        record.state = S.EXPIRED
        with self.ledger.transaction() as tx:
            previous = self.ledger.save(tx, record, expect=expected, actor="system", now=now)
            entry = self.ledger.outbox_entry(record.id)
            if entry is not None and entry.status == OutboxStatus.PENDING:
                self.ledger.schedule_write_back(
                    tx, record.id, at=entry.next_attempt_at, attempts=entry.attempts,
                    error="code expired before it could be written back",
                    status=OutboxStatus.EXPIRED,
                )
            self.transitions.notify_after_commit(tx, record, previous)
        return True
