"""The ledger file: migrations, clear errors, and what it keeps in clear (nothing identifying)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from prostop_plugin.errors import LedgerError
from prostop_plugin.keys import KeyRing
from prostop_plugin.ledger import SCHEMA_VERSION, Ledger, owner_is_dead, process_identity


@pytest.fixture
def keyring(tmp_path: Path) -> KeyRing:
    return KeyRing.open(tmp_path / "keys")


def test_a_new_ledger_is_migrated_to_the_current_schema(tmp_path: Path, keyring: KeyRing) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite3", keyring)
    assert ledger.schema_version() == SCHEMA_VERSION
    conn = sqlite3.connect(tmp_path / "ledger.sqlite3")
    tables = {r[0] for r in conn.execute("select name from sqlite_master where type='table'")}
    assert {"issuances", "events", "transitions", "outbox"} <= tables
    assert conn.execute("pragma journal_mode").fetchone()[0] == "wal"
    ledger.close()
    # opening again is a no-op migration
    assert Ledger(tmp_path / "ledger.sqlite3", keyring).schema_version() == SCHEMA_VERSION


def test_a_ledger_from_a_newer_version_is_refused(tmp_path: Path, keyring: KeyRing) -> None:
    path = tmp_path / "ledger.sqlite3"
    Ledger(path, keyring).close()
    conn = sqlite3.connect(path)
    conn.execute(f"pragma user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(LedgerError) as error:
        Ledger(path, keyring)
    assert "newer than this software" in str(error.value) and "upgrade" in str(error.value)


def test_a_file_that_is_not_a_ledger_is_a_clear_error(tmp_path: Path, keyring: KeyRing) -> None:
    path = tmp_path / "ledger.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(LedgerError) as error:
        Ledger(path, keyring)
    assert str(path) in str(error.value)


def test_leases_know_a_dead_owner_from_a_live_one() -> None:
    assert not owner_is_dead(process_identity())
    host = process_identity().split(":")[0]
    assert owner_is_dead(f"{host}:999999999:1")  # no such pid
    assert not owner_is_dead("another-machine:1:1")  # can't tell: wait for the lease expiry
