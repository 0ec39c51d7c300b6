"""The ledger's SQLite file: schema and migrations, one connection per thread, transactions."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from prostop_plugin.errors import LedgerError

_MIGRATIONS: list[str] = [
    # 1: initial schema
    """
    CREATE TABLE issuances (
        id            TEXT PRIMARY KEY,
        patient_key   TEXT NOT NULL,
        episode       TEXT NOT NULL,
        episode_start TEXT NOT NULL,
        state         TEXT NOT NULL,
        created_at    TEXT NOT NULL,
        updated_at    TEXT NOT NULL,
        valid_until   TEXT,
        replaces      TEXT REFERENCES issuances(id),
        code_blob     BLOB,
        code_digest   TEXT,
        code_last2    TEXT,
        lease_owner   TEXT,
        lease_until   TEXT,
        body          BLOB NOT NULL
    );
    CREATE INDEX issuances_patient ON issuances(patient_key, created_at);
    CREATE INDEX issuances_state ON issuances(state);
    CREATE INDEX issuances_episode ON issuances(episode);
    CREATE TABLE events (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        dedupe_key  TEXT NOT NULL UNIQUE,
        issuance_id TEXT NOT NULL REFERENCES issuances(id),
        received_at TEXT NOT NULL,
        payload     BLOB NOT NULL
    );
    CREATE INDEX events_issuance ON events(issuance_id);
    CREATE TABLE transitions (
        seq         INTEGER PRIMARY KEY AUTOINCREMENT,
        issuance_id TEXT NOT NULL REFERENCES issuances(id),
        from_state  TEXT,
        to_state    TEXT NOT NULL,
        at          TEXT NOT NULL,
        actor       TEXT NOT NULL
    );
    CREATE TABLE outbox (
        issuance_id     TEXT PRIMARY KEY REFERENCES issuances(id),
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT NOT NULL,
        last_error      TEXT,
        status          TEXT NOT NULL DEFAULT 'pending'
    );
    """,
    # 2: a row whose data cannot be read or advanced is set aside (why, in English, no
    # patient data) so that recovery goes on for the others
    """
    ALTER TABLE issuances ADD COLUMN set_aside TEXT;
    """,
]

SCHEMA_VERSION = len(_MIGRATIONS)


def iso_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def parse_utc(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class LedgerDatabase:
    """The file itself, migrated on open; :class:`~prostop_plugin.ledger.Ledger` builds on it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LedgerError(
                f"cannot create the data folder: {exc.strerror}", where=str(path.parent),
                fix="create it, or set data_dir to a writable folder",
            ) from None
        self._restrict_modes()
        self._migrate()

    def _restrict_modes(self) -> None:
        """The ledger and its -wal/-shm files are the owner's only (0600), like the keys.

        SQLite gives the -wal and -shm files the database file's mode, so creating that file
        0600 first is enough; files made wider by an older version are narrowed.
        """
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600)
            os.close(fd)
            for suffix in ("", "-wal", "-shm"):
                member = Path(f"{self.path}{suffix}")
                if member.exists() and member.stat().st_mode & 0o077:
                    member.chmod(0o600)
        except OSError as exc:
            raise LedgerError(
                f"cannot create or protect the ledger file: {exc.strerror}", where=str(self.path),
                fix="run prostop as the user that owns the data folder",
            ) from None

    # -- connection and transactions -------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=FULL")  # durable before we acknowledge
                conn.execute("PRAGMA foreign_keys=ON")
            except sqlite3.Error as exc:
                raise LedgerError(
                    f"cannot open the ledger: {exc}", where=str(self.path),
                    fix="check the file's permissions and that it is a prostop ledger",
                ) from None
            conn.row_factory = sqlite3.Row
            self._local.conn = conn
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        conn = self._connection()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise LedgerError(f"cannot start a transaction: {exc}", where=str(self.path)) from None
        try:
            yield conn
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback(conn)
            raise LedgerError(
                f"the ledger could not be written: {exc}", where=str(self.path),
                fix="check free disk space and the file's permissions; nothing was half-written",
            ) from exc
        except BaseException:
            self._rollback(conn)
            raise

    @staticmethod
    def _rollback(conn: sqlite3.Connection) -> None:
        if conn.in_transaction:
            conn.execute("ROLLBACK")

    def close(self) -> None:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # -- schema ----------------------------------------------------------------------------

    def _migrate(self) -> None:
        with self.transaction() as conn:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if version > SCHEMA_VERSION:
                raise LedgerError(
                    f"the ledger has schema version {version}, newer than this software "
                    f"({SCHEMA_VERSION})", where=str(self.path),
                    fix="upgrade prostop-plugin; never downgrade over a newer ledger",
                )
            for number in range(version, SCHEMA_VERSION):
                for statement in _MIGRATIONS[number].split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {number + 1}")

    def schema_version(self) -> int:
        return int(self._connection().execute("PRAGMA user_version").fetchone()[0])
