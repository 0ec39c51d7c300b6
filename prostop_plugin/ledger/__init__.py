"""The ledger: events, issuances, transitions and the write-back outbox, in one database.

:mod:`~prostop_plugin.ledger.store` reads and writes the records (:class:`Ledger`);
:mod:`~prostop_plugin.ledger.schema` owns the database, its migrations and transactions
(:mod:`~prostop_plugin.ledger.backend`: SQLite or PostgreSQL); :mod:`~prostop_plugin.ledger.rowmac`
keys each row to the key ring;
:mod:`~prostop_plugin.ledger.leases` names the process that owns slow work.
"""

from prostop_plugin.ledger.backend import Tx
from prostop_plugin.ledger.leases import owner_is_dead, process_identity
from prostop_plugin.ledger.records import (
    EpisodeHead,
    EventMatch,
    IssuanceSummary,
    Journal,
    OutboxEntry,
    OutboxStatus,
)
from prostop_plugin.ledger.schema import SCHEMA_VERSION
from prostop_plugin.ledger.store import Ledger

__all__ = [
    "SCHEMA_VERSION",
    "EpisodeHead",
    "EventMatch",
    "IssuanceSummary",
    "Journal",
    "Ledger",
    "OutboxEntry",
    "OutboxStatus",
    "Tx",
    "owner_is_dead",
    "process_identity",
]
