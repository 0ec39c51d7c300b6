"""One damaged ledger row is set aside (visible, audited) while recovery goes on for the rest."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from prostop_plugin import IssuanceState, Prostop
from prostop_plugin.cli import main
from tests.fixtures.builders import rtpcr_event, settings_for

S = IssuanceState


def stored_unadvanced(prostop: Prostop, count: int) -> list[str]:
    """``count`` patients' events stored, not yet evaluated (as after a crash at intake)."""
    when = datetime.now(UTC) - timedelta(hours=2)
    return [
        prostop.engine.ingest(rtpcr_event(n=n, when=when, message_id=f"MSG-{n}"))[0].id
        for n in range(1, count + 1)
    ]


def flip_a_byte(ledger_path: Path, issuance_id: str) -> None:
    with sqlite3.connect(ledger_path) as conn:
        (body,) = conn.execute("SELECT body FROM issuances WHERE id = ?", (issuance_id,)).fetchone()
        damaged = bytes(body[:40]) + bytes([body[40] ^ 0x01]) + bytes(body[41:])
        conn.execute("UPDATE issuances SET body = ? WHERE id = ?", (damaged, issuance_id))


def test_a_damaged_row_is_set_aside_and_the_others_advance(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = settings_for(tmp_path)
    with Prostop.open(settings) as prostop:
        ids = stored_unadvanced(prostop, 5)
        flip_a_byte(settings.ledger_path, ids[0])  # the oldest: first in the queue

        advanced = prostop.engine.resume()

        assert sorted(r.id for r in advanced) == sorted(ids[1:])
        assert {r.state for r in advanced} == {S.AWAITING_CONFIRMATION}
        aside = {s.id: s.set_aside for s in prostop.ledger.summaries() if s.set_aside}
        assert list(aside) == [ids[0]]
        assert f"issuance {ids[0]}" in aside[ids[0]]  # names the issuance, not only a key file
        assert prostop.engine.resume() == []  # skipped from then on, no crash loop
        entries = [e for e in prostop.audit.entries() if e.action == "set_aside"]
        assert [e.issuance_id for e in entries] == [ids[0]]

    config = tmp_path / "prostop.toml"
    config.write_text(f'data_dir = "{settings.data_dir}"\n')
    assert main(["--config", str(config), "status"]) == 0
    listed = capsys.readouterr().out
    assert "SET ASIDE" in listed and ids[0] in listed and all(i in listed for i in ids)
    assert main(["--config", str(config), "doctor"]) == 1
    assert "set aside" in capsys.readouterr().out


def test_a_row_that_cannot_take_its_next_step_is_set_aside_without_a_traceback(
    tmp_path: Path,
) -> None:
    settings = settings_for(tmp_path)
    with Prostop.open(settings) as prostop:
        broken, healthy = stored_unadvanced(prostop, 2)
        record = prostop.ledger.get(broken)
        record.state = S.APPROVED  # approved, yet no confirmation on file: impossible step
        with prostop.ledger.transaction() as conn:
            prostop.ledger.save(conn, record, expect=S.RECEIVED, actor="test",
                                now=datetime.now(UTC))

        advanced = prostop.engine.resume()

        assert [r.id for r in advanced] == [healthy]
        assert prostop.ledger.set_aside_reason(broken) is not None
        assert "AssertionError" in (prostop.ledger.set_aside_reason(broken) or "")
