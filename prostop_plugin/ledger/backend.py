"""The two databases a ledger can live in: a SQLite file (the default) or PostgreSQL.

Both are driven with the same SQL, written for SQLite with ``?`` placeholders; a
:class:`Dialect` says what differs (placeholders, column types in migrations, how a write
transaction starts, where the schema version is kept, how work is claimed).

Write transactions are serialised in both: SQLite's ``BEGIN IMMEDIATE`` takes the file's write
lock; on PostgreSQL every write transaction first takes one transaction-scoped advisory lock,
which is what keeps the audit chain (one sequence, each entry hashing the previous one) a
single line across every worker. Work is claimed (:meth:`Dialect.claim_sql`) outside that
lock with ``SELECT … FOR UPDATE SKIP LOCKED``, so workers never wait for each other's claims.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar, Protocol

from prostop_plugin.errors import LedgerError

Row = Any  #: ``row["column"]`` on both (sqlite3.Row, psycopg's dict rows)
Params = Sequence[object]

#: the advisory lock every PostgreSQL write transaction holds (the audit chain's)
WRITE_LOCK_KEY = 0x70726F73746F70  # "prostop"


class Cursor(Protocol):
    def fetchone(self) -> Row: ...

    def fetchall(self) -> list[Row]: ...

    def __iter__(self) -> Iterator[Row]: ...


def is_postgres_url(location: str | Path) -> bool:
    return isinstance(location, str) and location.startswith(("postgresql://", "postgres://"))


def redact_url(url: str) -> str:
    """The URL without its password, for messages."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


class Dialect:
    """SQLite: one connection per thread, the file's own locking."""

    name = "sqlite"
    errors: tuple[type[BaseException], ...] = (sqlite3.Error,)
    begin_write = "BEGIN IMMEDIATE"
    #: type tokens in migrations
    types: ClassVar[dict[str, str]] = {
        "BLOB": "BLOB", "SERIAL": "INTEGER PRIMARY KEY AUTOINCREMENT",
    }
    #: a row's insertion order, the last tie-break of "newest first"
    insertion_order = "rowid"
    for_update = ""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.where = str(path)
        self._local = threading.local()

    def sql(self, text: str) -> str:
        return text

    def execute(self, conn: Any, text: str, params: Params = ()) -> Cursor:
        cursor: Cursor = conn.execute(self.sql(text), params)
        return cursor

    def connection(self) -> Any:
        """This thread's connection (autocommit: transactions are explicit)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None,
                                       check_same_thread=False)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=FULL")  # durable before we acknowledge
                conn.execute("PRAGMA foreign_keys=ON")
            except sqlite3.Error as exc:
                raise LedgerError(
                    f"cannot open the ledger: {exc}", where=self.where,
                    fix="check the file's permissions and that it is a prostop ledger",
                ) from None
            conn.row_factory = sqlite3.Row
            self._local.conn = conn
        return conn

    @contextmanager
    def borrowed(self) -> Iterator[Any]:
        yield self.connection()

    def synced(self, conn: Any) -> contextlib.AbstractContextManager[Any]:
        """Around statements whose errors must be raised by the time the block ends (SQLite
        raises each at once; PostgreSQL's write transactions are pipelined)."""
        return contextlib.nullcontext()

    def after_begin(self, conn: Any, *, serialised: bool) -> None:
        """Run right after BEGIN (SQLite's BEGIN IMMEDIATE already holds the write lock)."""

    def begin(self, *, serialised: bool) -> str:
        return self.begin_write if serialised else "BEGIN"

    def schema_version(self, conn: Any) -> int:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])

    def set_schema_version(self, conn: Any, version: int) -> None:
        conn.execute(f"PRAGMA user_version = {int(version)}")

    def migration(self, text: str) -> list[str]:
        for token, replacement in self.types.items():
            text = text.replace("{" + token + "}", replacement)
        return [s for s in text.split(";") if s.strip()]

    def close_thread(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def close(self) -> None:
        self.close_thread()

    def is_locked(self, exc: BaseException) -> bool:
        return isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)


class PostgresDialect(Dialect):
    """PostgreSQL through psycopg 3 and a psycopg_pool connection pool (autocommit
    connections: transactions are explicit, as with SQLite)."""

    name = "postgresql"
    begin_write = "BEGIN"
    types: ClassVar[dict[str, str]] = {
        "BLOB": "BYTEA", "SERIAL": "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
    }
    insertion_order = "id"
    for_update = " FOR UPDATE"

    def __init__(self, url: str, *, max_connections: int = 16) -> None:
        try:
            import psycopg
            import psycopg_pool
            from psycopg.rows import dict_row
        except ImportError:
            raise LedgerError(
                "data_url names a PostgreSQL ledger but its driver is not installed",
                where=redact_url(url),
                fix="pip install 'prostop-plugin[postgresql]' (psycopg and psycopg_pool)",
            ) from None

        super().__init__(Path(os.devnull))
        self.url = url
        self.where = redact_url(url)
        self.errors = (psycopg.Error, psycopg_pool.PoolTimeout)
        self._sql_cache: dict[str, str] = {}
        try:
            # one connection first: a wrong address or password is told at once, not after
            # the pool's wait
            psycopg.connect(url, connect_timeout=10).close()
            self.pool = psycopg_pool.ConnectionPool(
                url, min_size=1, max_size=max_connections, open=True, timeout=30.0,
                kwargs={"autocommit": True, "row_factory": dict_row},
                name="prostop-ledger",
            )
            self.pool.wait(timeout=30.0)
        except self.errors as exc:
            raise LedgerError(
                f"cannot connect to the ledger database: {_first_line(exc)}", where=self.where,
                fix="check data_url (host, port, database, user, password) and that the "
                "server accepts connections from here",
            ) from None

    def sql(self, text: str) -> str:
        converted = self._sql_cache.get(text)
        if converted is None:
            converted = self._sql_cache[text] = text.replace("%", "%%").replace("?", "%s")
        return converted

    def execute(self, conn: Any, text: str, params: Params = ()) -> Cursor:
        cursor: Cursor = conn.execute(self.sql(text), params)
        return cursor

    def connection(self) -> Any:
        raise AssertionError("PostgreSQL connections are borrowed from the pool")

    @contextmanager
    def borrowed(self) -> Iterator[Any]:
        with self.pool.connection() as conn:
            yield conn

    def synced(self, conn: Any) -> contextlib.AbstractContextManager[Any]:
        """A pipeline block (psycopg's pipeline mode): statements are sent without waiting for
        each result, and the block's end waits for them all, raising the first error. A write
        transaction is one such block, each of its parts (savepoints) a nested one: a stored
        message costs the round trips of the reads it needs, not one per statement."""
        return conn.pipeline()  # type: ignore[no-any-return]

    def after_begin(self, conn: Any, *, serialised: bool) -> None:
        if serialised:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK_KEY,))

    def begin(self, *, serialised: bool) -> str:
        return "BEGIN"

    def schema_version(self, conn: Any) -> int:
        conn.execute("CREATE TABLE IF NOT EXISTS prostop_schema (version INTEGER NOT NULL)")
        row = conn.execute("SELECT version FROM prostop_schema").fetchone()
        return int(row["version"]) if row else 0

    def set_schema_version(self, conn: Any, version: int) -> None:
        conn.execute("DELETE FROM prostop_schema")
        conn.execute("INSERT INTO prostop_schema (version) VALUES (%s)", (int(version),))

    def close_thread(self) -> None:
        pass

    def close(self) -> None:
        self.pool.close()

    def is_locked(self, exc: BaseException) -> bool:
        return False


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def dialect_for(location: str | Path) -> Dialect:
    if is_postgres_url(location):
        return PostgresDialect(str(location))
    return Dialect(Path(location))


class Tx:
    """One open transaction of this thread: SQL in it, and what runs around its commit.

    Nested :meth:`~prostop_plugin.ledger.schema.LedgerDatabase.transaction` calls become
    savepoints of the same transaction; ``state`` (per-transaction caches such as the audit
    chain's tail) is restored when a savepoint is rolled back.
    """

    def __init__(self, conn: Any, dialect: Dialect) -> None:
        self.conn = conn
        self.dialect = dialect
        self.depth = 0
        self.state: dict[str, Any] = {}
        self._after: list[Callable[[], None]] = []
        self._before: dict[str, Callable[[Tx], None]] = {}

    def execute(self, text: str, params: Params = ()) -> Cursor:
        return self.dialect.execute(self.conn, text, params)

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once the outermost transaction is durable (dropped on rollback)."""
        self._after.append(callback)

    def before_commit(self, key: str, callback: Callable[[Tx], None]) -> None:
        """Run ``callback(tx)`` once, just before the outermost COMMIT."""
        self._before.setdefault(key, callback)

    def take_after_commit(self) -> list[Callable[[], None]]:
        """Hand the callbacks collected so far to the caller (the group committer)."""
        taken, self._after = self._after, []
        return taken

    def mark(self) -> tuple[dict[str, Any], int, dict[str, Callable[[Tx], None]]]:
        return dict(self.state), len(self._after), dict(self._before)

    def restore(self, mark: tuple[dict[str, Any], int, dict[str, Callable[[Tx], None]]]) -> None:
        state, after, before = mark
        self.state = state
        del self._after[after:]
        self._before = before

    def run_before_commit(self) -> None:
        while self._before:
            key = next(iter(self._before))
            self._before.pop(key)(self)

    def run_after_commit(self) -> None:
        for callback in self.take_after_commit():
            callback()
