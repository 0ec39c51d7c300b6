"""The steps after the code is issued: writing it back through the outbox, and expiry."""

from __future__ import annotations

import logging
from datetime import timedelta

from prostop_plugin.events import IssuanceRecord, LocalizedText, WriteBackReceipt
from prostop_plugin.issuance_base import IssuanceBase, S
from prostop_plugin.texts import Message, localized

# the flow's one logger, whichever file a step lives in (log lines name it)
log = logging.getLogger("prostop_plugin.issuance")


class WriteBackSteps(IssuanceBase):
    """Write-back and expiry, the unattended steps of an issued code."""

    def _write_back_lease(self) -> float:
        return 300.0

    def _write_back(self, record: IssuanceRecord) -> bool:
        entry = self.ledger.outbox_entry(record.id)
        attempts = (entry.attempts if entry else 0) + 1
        expected = record.state
        self._save(record, expect=expected, lease=self._write_back_lease())
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
        now = self.clock()
        if receipt is not None:
            record.state = S.WRITTEN_BACK
            record.receipts.append(receipt)
            record.error = None
            status, next_at, error = "done", now, None
        else:
            cfg = self.settings.write_back
            delay = min(cfg.backoff_max, cfg.backoff_initial * (2 ** (attempts - 1)))
            exhausted = attempts >= cfg.max_attempts
            status, next_at, error = ("failed" if exhausted else "pending"), (
                now + timedelta(seconds=delay)
            ), problem
            record.state = S.WRITE_BACK_FAILED
            message = localized(
                Message.WRITE_BACK_FAILED if exhausted else Message.WRITE_BACK_PENDING
            )
            record.error = LocalizedText(
                fr=f"{message.fr} ({problem})", en=f"{message.en} ({problem})"
            )
        with self.ledger.transaction() as conn:
            previous = self.ledger.save(conn, record, expect=expected, actor="system", now=now)
            self.ledger.schedule_write_back(
                conn, record.id, at=next_at, attempts=attempts, error=error, status=status
            )
        self._notify(record, previous)
        return receipt is not None

    def _expire_if_due(self, record: IssuanceRecord) -> bool:
        if record.valid_until is None or record.valid_until > self.clock():
            return False
        expected = record.state
        record.state = S.EXPIRED
        with self.ledger.transaction() as conn:
            previous = self.ledger.save(conn, record, expect=expected, actor="system",
                                        now=self.clock())
            entry = self.ledger.outbox_entry(record.id)
            if entry is not None and entry.status == "pending":
                self.ledger.schedule_write_back(
                    conn, record.id, at=entry.next_attempt_at, attempts=entry.attempts,
                    error="code expired before it could be written back", status="expired",
                )
        self._notify(record, previous)
        return True
