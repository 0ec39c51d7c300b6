"""The audit chain in the ledger: one commit per step with its entries, and an audit that
cannot drift from the ledger (rows edited, deleted, or the audit emptied, all reported)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from prostop_plugin.app import Prostop
from prostop_plugin.cli import main
from tests.fixtures.builders import rtpcr_event, settings_for

WHEN = datetime.now(UTC) - timedelta(hours=2)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Path]:
    """Three patients' events stored and evaluated (two events for the first one)."""
    settings = settings_for(tmp_path)
    with Prostop.open(settings) as prostop:
        for n in (1, 2, 3):
            prostop.hooks.diagnosis_recorded(rtpcr_event(n=n, when=WHEN, message_id=f"M{n}"))
        prostop.hooks.diagnosis_recorded(rtpcr_event(n=1, when=WHEN, message_id="M1-again"))
    config = tmp_path / "prostop.toml"
    config.write_text(f'data_dir = "{settings.data_dir}"\n')
    yield tmp_path


def edit(site: Path, *statements: str) -> None:
    with sqlite3.connect(site / "var" / "ledger.sqlite3") as conn:
        for statement in statements:
            conn.execute(statement)


def verify(site: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["--config", str(site / "prostop.toml"), "audit", "verify"])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_every_step_and_every_event_has_its_entry(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, said = verify(site, capsys)
    assert code == 0, said
    # 3 issuances × (received, awaiting_confirmation) + the second event of patient 1
    assert "intact: 7 entries" in said
    with sqlite3.connect(site / "var" / "ledger.sqlite3") as conn:
        unlinked = conn.execute(
            "SELECT count(*) FROM transitions WHERE audit_seq IS NULL").fetchone()[0]
        actions = [r[0] for r in conn.execute("SELECT action FROM audit ORDER BY seq")]
    assert unlinked == 0
    assert actions.count("event_stored") == 1
    assert not (site / "var" / "audit.jsonl").exists(), "no file log any more"


def first_id(site: Path, state: str = "awaiting_confirmation") -> str:
    with sqlite3.connect(site / "var" / "ledger.sqlite3") as conn:
        return str(conn.execute("SELECT id FROM issuances WHERE state = ? ORDER BY created_at",
                                (state,)).fetchone()[0])


TAMPERING: dict[str, tuple[Callable[[str], list[str]], str]] = {
    "a state edited by hand": (
        lambda i: [f"UPDATE issuances SET state = 'approved' WHERE id = '{i}'"],
        "issuance {id} in the ledger was altered outside prostop"),
    "an issuance deleted": (
        lambda i: ["PRAGMA foreign_keys = OFF", f"DELETE FROM issuances WHERE id = '{i}'"],
        "is about issuance {id}, which is not in the ledger"),
    "a transition deleted": (
        lambda i: [f"DELETE FROM transitions WHERE seq = (SELECT max(seq) FROM transitions "
                   f"WHERE issuance_id = '{i}')"],
        "records a transition of issuance {id}"),
    "a joined event deleted": (
        lambda i: ["DELETE FROM events WHERE id = (SELECT max(id) FROM events)"],
        "records an event of issuance {id} that the ledger does not have"),
    "the audit emptied": (
        lambda i: ["DELETE FROM audit", "DELETE FROM audit_head"],
        "the audit has no entries while the ledger holds 3 issuance(s)"),
    "the audit's last entries and head deleted": (
        lambda i: ["DELETE FROM audit WHERE seq > 5", "DELETE FROM audit_head"],
        "the signed head (table audit_head) is missing"),
    "the last entries cut off": (
        lambda i: ["DELETE FROM audit WHERE seq > 5"],
        "its signed head records 7 entries"),
    "an entry edited": (
        lambda i: ["UPDATE audit SET actor = 'someone' WHERE seq = 2"],
        "entry 2 was altered"),
    "an older body put back": (
        lambda i: [f"UPDATE issuances SET body = (SELECT body FROM issuances WHERE id <> '{i}' "
                   f"LIMIT 1) WHERE id = '{i}'"],
        "issuance {id} in the ledger was altered outside prostop"),
}


@pytest.mark.parametrize("case", list(TAMPERING))
def test_tampering_is_reported_with_exit_1_naming_the_first_problem(
    case: str, site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    statements, expected = TAMPERING[case]
    issuance_id = first_id(site)  # patient 1's: the one with two events
    edit(site, *statements(issuance_id))
    code, said = verify(site, capsys)
    assert code == 1, said
    assert "audit log BROKEN" in said and expected.format(id=issuance_id) in said, said
    assert "Traceback" not in said


def test_a_state_edited_together_with_its_mac_column_is_still_caught(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Whoever edits the database without the key ring cannot make a MAC that holds."""
    issuance_id = first_id(site)
    edit(site, f"UPDATE issuances SET state = 'declined', mac = NULL WHERE id = '{issuance_id}'")
    code, said = verify(site, capsys)
    assert code == 1 and "was written outside prostop" in said, said


def test_a_step_and_its_entry_are_one_transaction(tmp_path: Path) -> None:
    """An entry that cannot be written takes its step back with it: never one without the
    other (the file log could lose the entry after the step had committed)."""
    settings = settings_for(tmp_path)
    with Prostop.open(settings) as prostop:
        edit(tmp_path, "CREATE TRIGGER no_audit BEFORE INSERT ON audit "
                       "BEGIN SELECT RAISE(ABORT, 'disk full'); END")
        with pytest.raises(Exception, match="disk full"):
            prostop.hooks.diagnosis_recorded(rtpcr_event(n=1, when=WHEN))
        assert prostop.ledger.summaries() == [] and prostop.ledger.event_count() == 0
        edit(tmp_path, "DROP TRIGGER no_audit")
        record = prostop.hooks.diagnosis_recorded(rtpcr_event(n=1, when=WHEN))
        assert record is not None and prostop.ledger.event_count() == 1
        assert prostop.audit.verify().ok
