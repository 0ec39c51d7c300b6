"""Upgrading a ledger whose audit was the file log of earlier versions (schema 2)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from prostop_plugin.app import Prostop
from prostop_plugin.audit import AuditLog
from prostop_plugin.config import Settings
from prostop_plugin.errors import AuditError
from prostop_plugin.keys import KeyRing
from tests.fixtures.builders import rtpcr_event, settings_for

WHEN = datetime.now(UTC) - timedelta(hours=2)
SCHEMA_3_ONLY = """
DROP TABLE audit; DROP TABLE audit_head; DROP TABLE legacy_adoption;
ALTER TABLE issuances DROP COLUMN mac;
ALTER TABLE transitions DROP COLUMN audit_seq; ALTER TABLE transitions DROP COLUMN mac;
ALTER TABLE events DROP COLUMN audit_seq; ALTER TABLE events DROP COLUMN mac;
DROP INDEX transitions_issuance; DROP INDEX issuances_state_created;
DROP INDEX issuances_valid_until; DROP INDEX outbox_due;
CREATE INDEX issuances_state ON issuances(state);
PRAGMA user_version = 2;
"""


def a_version_2_installation(tmp_path: Path, *, lose: int | None = None) -> Settings:
    """Two patients' events (one with a second event) stored, then the ledger taken back to
    schema 2 and its audit written as the file log the old observer wrote, one entry per
    transition (``lose``: the transition whose entry a crash lost)."""
    settings = settings_for(tmp_path)
    with Prostop.open(settings) as prostop:
        for n, message in ((1, "M1"), (2, "M2"), (1, "M1-bis")):
            prostop.hooks.diagnosis_recorded(rtpcr_event(n=n, when=WHEN, message_id=message))
    with sqlite3.connect(settings.ledger_path) as conn:
        transitions = conn.execute(
            "SELECT t.seq, t.issuance_id, t.from_state, t.to_state, t.actor, i.episode "
            "FROM transitions t JOIN issuances i ON i.id = t.issuance_id ORDER BY t.seq"
        ).fetchall()
        conn.executescript(SCHEMA_3_ONLY)
    log = AuditLog(settings.audit_path, KeyRing.open(settings.key_dir))
    for seq, issuance_id, previous, state, _actor, episode in transitions:
        if seq != lose:
            log.append(actor="system", action=f"transition:{state}", issuance_id=issuance_id,
                       episode=episode, details={"previous": previous})
    return settings


def test_the_file_log_is_carried_into_the_ledger_as_it_is(tmp_path: Path) -> None:
    settings = a_version_2_installation(tmp_path)
    file_entries = list(AuditLog(settings.audit_path, KeyRing.open(settings.key_dir)).entries())
    with Prostop.open(settings) as prostop:
        result = prostop.audit.verify()
        assert result.ok, result.problem
        carried = list(prostop.audit.entries())
        assert carried[: len(file_entries)] == file_entries  # same hashes and signatures
        # the second event of patient 1 was never audited: an entry says so, marked
        assert [e.action for e in carried[len(file_entries):]] == ["event_stored"]
        assert prostop.audit.backfilled() == 1
        # and the chain goes on from the file's last entry
        prostop.hooks.diagnosis_recorded(rtpcr_event(n=3, when=WHEN, message_id="M3"))
        assert prostop.audit.verify().ok
    assert not settings.audit_path.exists()
    assert settings.audit_path.with_name("audit.jsonl.imported").exists()
    assert settings.audit_path.with_name("audit.jsonl.head.imported").exists()


def test_a_transition_the_file_log_lost_is_backfilled_and_said(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from prostop_plugin.cli import main

    settings = a_version_2_installation(tmp_path, lose=2)
    config = tmp_path / "prostop.toml"
    config.write_text(f'data_dir = "{settings.data_dir}"\n')
    assert main(["--config", str(config), "audit", "verify"]) == 0
    said = capsys.readouterr().out
    assert "intact" in said and "2 entries were written when the ledger was upgraded" in said


def test_a_damaged_file_log_is_not_carried_over(tmp_path: Path) -> None:
    settings = a_version_2_installation(tmp_path)
    lines = settings.audit_path.read_text().splitlines()
    lines[1] = lines[1].replace("system", "someone")
    settings.audit_path.write_text("\n".join(lines) + "\n")
    with pytest.raises(AuditError) as error:
        Prostop.open(settings)
    message = error.value.one_line()
    assert "cannot be carried into the ledger" in message and "move it" in message
    assert settings.audit_path.exists(), "kept as evidence"
