"""The ledger: events, issuances, transitions and the write-back outbox, in one database.

:mod:`~prostop_plugin.ledger.store` reads and writes the records (:class:`Ledger`);
:mod:`~prostop_plugin.ledger.schema` owns the file, its migrations and transactions;
:mod:`~prostop_plugin.ledger.leases` names the process that owns slow work.
"""

from prostop_plugin.ledger.leases import owner_is_dead, process_identity
from prostop_plugin.ledger.schema import SCHEMA_VERSION
from prostop_plugin.ledger.store import (
    EpisodeHead,
    EventMatch,
    IssuanceSummary,
    Ledger,
    OutboxEntry,
    OutboxStatus,
)

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
