"""The ledger's database (a SQLite file, or PostgreSQL): schema, migrations, transactions."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prostop_plugin.errors import LedgerError
from prostop_plugin.ledger.backend import Dialect, Params, Row, Tx, dialect_for

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
        code_blob     {BLOB},
        code_digest   TEXT,
        code_last2    TEXT,
        lease_owner   TEXT,
        lease_until   TEXT,
        body          {BLOB} NOT NULL
    );
    CREATE INDEX issuances_patient ON issuances(patient_key, created_at);
    CREATE INDEX issuances_state ON issuances(state);
    CREATE INDEX issuances_episode ON issuances(episode);
    CREATE TABLE events (
        id          {SERIAL},
        dedupe_key  TEXT NOT NULL UNIQUE,
        issuance_id TEXT NOT NULL REFERENCES issuances(id),
        received_at TEXT NOT NULL,
        payload     {BLOB} NOT NULL
    );
    CREATE INDEX events_issuance ON events(issuance_id);
    CREATE TABLE transitions (
        seq         {SERIAL},
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
    # 3: the audit chain moves into the ledger (a step and its entries commit together), rows
    # carry a keyed MAC, transitions and events name the entry that records them, and the
    # indexes a million-row ledger needs
    """
    CREATE TABLE audit (
        seq         INTEGER PRIMARY KEY,
        at          TEXT NOT NULL,
        actor       TEXT NOT NULL,
        action      TEXT NOT NULL,
        issuance_id TEXT,
        episode     TEXT,
        details     TEXT NOT NULL,
        prev_hash   TEXT NOT NULL,
        hash        TEXT NOT NULL,
        signature   TEXT NOT NULL
    );
    CREATE INDEX audit_issuance ON audit(issuance_id, seq);
    CREATE TABLE audit_head (
        id        INTEGER PRIMARY KEY CHECK (id = 1),
        seq       INTEGER NOT NULL,
        hash      TEXT NOT NULL,
        signature TEXT NOT NULL
    );
    ALTER TABLE issuances ADD COLUMN mac TEXT;
    ALTER TABLE transitions ADD COLUMN audit_seq INTEGER;
    ALTER TABLE transitions ADD COLUMN mac TEXT;
    ALTER TABLE events ADD COLUMN audit_seq INTEGER;
    ALTER TABLE events ADD COLUMN mac TEXT;
    CREATE INDEX transitions_issuance ON transitions(issuance_id, seq);
    DROP INDEX issuances_state;
    CREATE INDEX issuances_state_created ON issuances(state, created_at);
    CREATE INDEX issuances_valid_until ON issuances(valid_until)
        WHERE valid_until IS NOT NULL;
    CREATE INDEX outbox_due ON outbox(status, next_attempt_at);
    CREATE TABLE legacy_adoption (pending INTEGER NOT NULL);
    INSERT INTO legacy_adoption (pending) VALUES (1);
    """,
]
#: the first schema with the audit chain and row MACs in the ledger
AUDITED_SCHEMA = 3

SCHEMA_VERSION = len(_MIGRATIONS)


def iso_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def parse_utc(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class LedgerDatabase:
    """The database itself, migrated on open; :class:`~prostop_plugin.ledger.Ledger` builds on
    it. ``location``: the SQLite file's path, or a ``postgresql://`` URL."""

    def __init__(self, location: Path | str) -> None:
        self.dialect: Dialect = dialect_for(location)
        self.path = self.dialect.path if self.dialect.name == "sqlite" else location
        self.where = self.dialect.where
        self._local = threading.local()
        if self.dialect.name == "sqlite":
            path = self.dialect.path
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise LedgerError(
                    f"cannot create the data folder: {exc.strerror}", where=str(path.parent),
                    fix="create it, or set data_dir to a writable folder",
                ) from None
            self._restrict_modes(path)
        #: the schema version found on opening (before migrating)
        self.opened_at_version = self._migrate()

    @staticmethod
    def _restrict_modes(path: Path) -> None:
        """The ledger and its -wal/-shm files are the owner's only (0600), like the keys.

        SQLite gives the -wal and -shm files the database file's mode, so creating that file
        0600 first is enough; files made wider by an older version are narrowed.
        """
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
            os.close(fd)
            for suffix in ("", "-wal", "-shm"):
                member = Path(f"{path}{suffix}")
                if member.exists() and member.stat().st_mode & 0o077:
                    member.chmod(0o600)
        except OSError as exc:
            raise LedgerError(
                f"cannot create or protect the ledger file: {exc.strerror}", where=str(path),
                fix="run prostop as the user that owns the data folder",
            ) from None

    # -- transactions ----------------------------------------------------------------------

    def current(self) -> Tx | None:
        """This thread's open transaction, if any."""
        tx: Tx | None = getattr(self._local, "tx", None)
        return tx

    @contextmanager
    def transaction(self, *, serialised: bool = True) -> Iterator[Tx]:
        """A write transaction; inside another one on this thread, part of it (a failure
        then fails the outer one, unless a :meth:`savepoint` in between catches it).

        ``serialised``: hold the database's write lock from the start (every write that
        appends to the audit chain must); a claim of work passes False on PostgreSQL.
        """
        outer = self.current()
        if outer is not None:
            yield outer
            return
        with self._guard("cannot start a transaction"), self.dialect.borrowed() as conn, \
                self.dialect.synced(conn):
            tx = Tx(conn, self.dialect)
            try:
                with self.dialect.synced(conn):
                    conn.execute(self.dialect.begin(serialised=serialised))
                    self.dialect.after_begin(conn, serialised=serialised)
            except self.dialect.errors as exc:
                self._rollback(conn)
                raise LedgerError(
                    f"cannot start a transaction: {_first_line(exc)}", where=self.where,
                    fix=self._busy_fix(exc),
                ) from None
            self._local.tx = tx
            try:
                yield tx
                tx.run_before_commit()
                with self.dialect.synced(conn):  # durable, or its error raised, here
                    conn.execute("COMMIT")
            except self.dialect.errors as exc:
                self._rollback(conn)
                raise LedgerError(
                    f"the ledger could not be written: {_first_line(exc)}", where=self.where,
                    fix="check free disk space and the file's permissions; nothing was "
                    "half-written",
                ) from exc
            except BaseException:
                self._rollback(conn)
                raise
            finally:
                self._local.tx = None
        tx.run_after_commit()

    @contextmanager
    def savepoint(self) -> Iterator[Tx]:
        """A part of this thread's transaction (opened here when none is) that fails alone:
        on an exception its writes are rolled back, the rest of the transaction stands."""
        tx = self.current()
        if tx is None:
            with self.transaction() as tx:
                yield tx
            return
        with self._savepoint(tx):
            yield tx

    @contextmanager
    def _savepoint(self, tx: Tx) -> Iterator[None]:
        tx.depth += 1
        name = f"sp{tx.depth}"
        mark = tx.mark()
        try:
            tx.execute(f"SAVEPOINT {name}")
            try:
                with self.dialect.synced(tx.conn):  # the part's errors raised in the part
                    yield
            except BaseException:
                tx.execute(f"ROLLBACK TO SAVEPOINT {name}")
                tx.execute(f"RELEASE SAVEPOINT {name}")
                tx.restore(mark)
                raise
            tx.execute(f"RELEASE SAVEPOINT {name}")
        except self.dialect.errors as exc:
            raise LedgerError(
                f"the ledger could not be written: {_first_line(exc)}", where=self.where,
                fix="check free disk space and the file's permissions; nothing was "
                "half-written",
            ) from exc
        finally:
            tx.depth -= 1

    @contextmanager
    def _guard(self, what: str) -> Iterator[None]:
        try:
            yield
        except self.dialect.errors as exc:
            raise LedgerError(f"{what}: {_first_line(exc)}", where=self.where,
                              fix=self._busy_fix(exc)) from None

    def _busy_fix(self, exc: BaseException) -> str:
        if self.dialect.is_locked(exc):
            return "another process holds the ledger's write lock for too long; retry"
        return "check that the ledger is reachable and writable by this user"

    def _rollback(self, conn: Any) -> None:
        # none open (SQLite rolled back itself), or the connection is gone
        with contextlib.suppress(*self.dialect.errors), self.dialect.synced(conn):
            conn.execute("ROLLBACK")

    # -- reads -----------------------------------------------------------------------------

    def query(self, sql: str, params: Params = ()) -> list[Row]:
        """Rows of a read: in this thread's transaction when one is open (it sees its own
        writes), otherwise on a connection of its own."""
        tx = self.current()
        if tx is not None:
            return tx.execute(sql, params).fetchall()
        with self._guard("cannot read the ledger"), self.dialect.borrowed() as conn:
            return self.dialect.execute(conn, sql, params).fetchall()

    def query_one(self, sql: str, params: Params = ()) -> Row | None:
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def close(self) -> None:
        """Close this thread's connection (SQLite) or the pool (PostgreSQL)."""
        self.dialect.close()

    def close_thread(self) -> None:
        """Close this thread's connection (a worker thread that ends)."""
        self.dialect.close_thread()

    # -- schema ----------------------------------------------------------------------------

    def _migrate(self) -> int:
        with self.transaction() as tx:
            conn = tx.conn
            version = self.dialect.schema_version(conn)
            if version > SCHEMA_VERSION:
                raise LedgerError(
                    f"the ledger has schema version {version}, newer than this software "
                    f"({SCHEMA_VERSION})", where=self.where,
                    fix="upgrade prostop-plugin; never downgrade over a newer ledger",
                )
            for number in range(version, SCHEMA_VERSION):
                for statement in self.dialect.migration(_MIGRATIONS[number]):
                    conn.execute(statement)
                self.dialect.set_schema_version(conn, number + 1)
        return version

    def schema_version(self) -> int:
        with self.dialect.borrowed() as conn:
            return self.dialect.schema_version(conn)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
