"""What the ledger hands out and takes in besides records: outbox entries, event matches,
summaries, and the :class:`Journal` that records each commit in the audit chain."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Protocol

from prostop_plugin.ledger.backend import Tx
from prostop_plugin.models import DiagnosisEvent, IssuanceRecord, IssuanceState


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


class Journal(Protocol):
    """Records what the ledger commits, in the same transaction (the audit chain does)."""

    def record_transition(
        self, tx: Tx, record: IssuanceRecord, previous: IssuanceState | None
    ) -> int:
        """Record ``record``'s move from ``previous``; return the entry's number."""
        ...

    def record_event(self, tx: Tx, issuance_id: str, episode: str) -> int:
        """Record that an event joined an issuance; return the entry's number."""
        ...
