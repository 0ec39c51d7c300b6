"""The laboratory codes seen in results read from their words: a small SQLite file.

``<data_dir>/codes_seen.sqlite3`` holds, per sender, code and what the words said, how many
results used it, an example label and the first and last days it was seen; nothing about any
patient (no value, no date of a sample, no identifier). An event is counted once: the keyed
digests of the events already counted are kept 90 days (senders resend within hours), so a
message sent again after a lost acknowledgement does not count twice. Separate from the ledger
on purpose: losing it loses statistics, never a decision.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from prostop_plugin.eligibility.observations import CodeSeen
from prostop_plugin.errors import ProstopError

FILE_NAME = "codes_seen.sqlite3"
_KEEP_EVENT_KEYS = timedelta(days=90)
_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS code_seen (
        sender TEXT NOT NULL, system TEXT NOT NULL, code TEXT NOT NULL,
        category TEXT NOT NULL, label TEXT NOT NULL, results INTEGER NOT NULL,
        first_seen TEXT NOT NULL, last_seen TEXT NOT NULL,
        PRIMARY KEY (sender, system, code, category))""",
    """CREATE TABLE IF NOT EXISTS event_counted (
        digest TEXT PRIMARY KEY, counted_on TEXT NOT NULL)""",
)


class SeenCodesError(ProstopError):
    """The file of codes seen cannot be opened, read or written."""


@dataclass(frozen=True)
class SeenRow:
    """One code of one sender, and what its words were read as."""

    sender: str
    system: str
    code: str
    category: str
    label: str  # the latest label seen with it
    results: int
    first_seen: date
    last_seen: date


class SeenCodes:
    """Counts per (sender, code, category); one short connection per call (thread-safe)."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / FILE_NAME

    @contextmanager
    def _connect(self, *, create: bool) -> Iterator[sqlite3.Connection]:
        try:
            if create:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
            with closing(sqlite3.connect(self.path, timeout=10.0)) as conn:
                for statement in _SCHEMA:
                    conn.execute(statement)
                yield conn
        except (OSError, sqlite3.Error) as exc:
            raise SeenCodesError(
                f"the file of codes seen cannot be used: {exc}", where=str(self.path),
                fix="check the data folder's permissions; the file may be deleted (it only "
                "holds counts, rebuilt as results arrive)",
            ) from None

    def record(self, event_key: str, seen: Sequence[CodeSeen], today: date) -> bool:
        """Count the codes one event's results used; ``False`` when that event (same sender
        and message id) was already counted, or when there is nothing to count."""
        if not seen:
            return False
        digest = hashlib.sha256(event_key.encode("utf-8")).hexdigest()
        day = today.isoformat()
        with self._connect(create=True) as conn, conn:
            conn.execute("DELETE FROM event_counted WHERE counted_on < ?",
                         ((today - _KEEP_EVENT_KEYS).isoformat(),))
            inserted = conn.execute(
                "INSERT OR IGNORE INTO event_counted (digest, counted_on) VALUES (?, ?)",
                (digest, day)).rowcount
            if not inserted:
                return False
            for item in seen:
                conn.execute(
                    """INSERT INTO code_seen (sender, system, code, category, label, results,
                           first_seen, last_seen) VALUES (?, ?, ?, ?, ?, 1, ?, ?)
                       ON CONFLICT (sender, system, code, category) DO UPDATE SET
                           results = results + 1, label = excluded.label,
                           last_seen = excluded.last_seen""",
                    (item.sender, item.system, item.code, item.category, item.label[:200],
                     day, day))
        return True

    def rows(self) -> list[SeenRow]:
        """Every code seen, by sender then code; none when nothing was ever recorded."""
        if not self.path.exists():
            return []
        with self._connect(create=False) as conn:
            found = conn.execute(
                "SELECT sender, system, code, category, label, results, first_seen, last_seen "
                "FROM code_seen ORDER BY sender, code, system, category").fetchall()
        return [SeenRow(sender=row[0], system=row[1], code=row[2], category=row[3],
                        label=row[4], results=row[5], first_seen=date.fromisoformat(row[6]),
                        last_seen=date.fromisoformat(row[7])) for row in found]
