"""What storing one event costs, counted (never timed): no work whose result nobody uses.

Each count is deterministic; together they keep the per-message work of the MLLP benchmark
(``python -m bench mllp``) from creeping back.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from prostop_plugin.app import Prostop
from prostop_plugin.ledger import Ledger
from prostop_plugin.models import IssuanceState
from tests.fixtures.builders import rtpcr_event, settings_for

WHEN = datetime.now(UTC) - timedelta(hours=2)


@pytest.fixture
def prostop(tmp_path: Path) -> Iterator[Prostop]:
    with Prostop.open(settings_for(tmp_path)) as app:
        app.record(rtpcr_event(n=90, when=WHEN, message_id="WARM"))  # the writer is running
        yield app


def calls_of(monkeypatch: pytest.MonkeyPatch, target: object, name: str) -> list[Any]:
    """Record the calls of ``target.name`` (it still runs)."""
    calls: list[Any] = []
    original = getattr(target, name)

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(target, name, counting)
    return calls


def test_without_a_console_no_request_is_built_for_a_notice(
    prostop: Prostop, monkeypatch: pytest.MonkeyPatch
) -> None:
    # no console: no notice is written, so the request it would carry is not built
    assert prostop.settings.console.request_link("x") is None
    histories = calls_of(monkeypatch, Ledger, "patient_history")
    record = prostop.engine.record_event(rtpcr_event(n=1, when=WHEN, message_id="M1"))
    assert record.state == IssuanceState.AWAITING_CONFIRMATION
    assert histories == []


def statements_of(prostop: Prostop) -> list[str]:
    """The SQL this thread's ledger connection runs from now on (the committer closed, so a
    sender's work runs here, in its own transaction)."""
    prostop.engine.committer.close()
    seen: list[str] = []
    prostop.ledger.dialect.connection().set_trace_callback(seen.append)
    return seen


def test_a_new_issuance_is_written_once_with_both_transitions_audited(prostop: Prostop) -> None:
    seen = statements_of(prostop)
    record = prostop.engine.record_event(rtpcr_event(n=2, when=WHEN, message_id="M2"))
    assert record.state == IssuanceState.AWAITING_CONFIRMATION
    writes = [s.split(" (")[0] for s in seen if s.startswith(("INSERT INTO issuances",
                                                               "UPDATE issuances"))]
    assert writes == ["INSERT INTO issuances"]  # evaluated first, then written in that state
    assert prostop.ledger.transitions(record.id) == [
        (None, "received", "test"), ("received", "awaiting_confirmation", "system")]
    actions = [e.action for e in prostop.audit.entries() if e.issuance_id == record.id]
    assert actions == ["transition:received", "transition:awaiting_confirmation"]
    stored = prostop.ledger.get(record.id)
    assert stored.decision == record.decision and stored.binding_message
    assert prostop.audit.verify().ok and prostop.engine.ledger.event_count() == 2


def test_a_failed_evaluation_stores_the_event_received_then_resumes(
    prostop: Prostop, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from prostop_plugin import eligibility

    real = eligibility.evaluate
    failures = iter([RuntimeError("a bug in a rule")])

    def fails_once(*args: Any, **kwargs: Any) -> Any:
        failure = next(failures, None)
        if failure is not None:
            raise failure
        return real(*args, **kwargs)

    monkeypatch.setattr(eligibility, "evaluate", fails_once)
    prostop.engine.committer.close()
    record = prostop.engine.record_event(rtpcr_event(n=3, when=WHEN, message_id="M3"))
    assert "evaluation failed; stored, resumed later" in caplog.text
    # stored received in its own commit, then evaluated by the flow that carries on
    assert record.state == IssuanceState.AWAITING_CONFIRMATION
    assert prostop.ledger.transitions(record.id) == [
        (None, "received", "test"), ("received", "awaiting_confirmation", "system")]
    assert prostop.audit.verify().ok


def test_a_new_patients_event_is_evaluated_without_reading_the_episode_back(
    prostop: Prostop, monkeypatch: pytest.MonkeyPatch
) -> None:
    # no issuance for this patient yet: their episode holds no earlier event to read
    reads = calls_of(monkeypatch, Ledger, "episode_events")
    record = prostop.engine.record_event(rtpcr_event(n=4, when=WHEN, message_id="M4"))
    assert record.state == IssuanceState.AWAITING_CONFIRMATION
    assert reads == []
    assert prostop.ledger.get(record.id).decision == record.decision


def test_transitions_and_events_are_each_written_by_one_insert(prostop: Prostop) -> None:
    seen = statements_of(prostop)
    record = prostop.engine.record_event(rtpcr_event(n=5, when=WHEN, message_id="M5"))
    joined = prostop.engine.record_event(rtpcr_event(n=5, when=WHEN, message_id="M5b"))
    assert joined.id == record.id
    writes = [s.split(" (")[0].split(" SET")[0] for s in seen
              if s.startswith(("INSERT INTO transitions", "UPDATE transitions",
                               "INSERT INTO events", "UPDATE events"))]
    # the new issuance: two transitions and its event; then the event that joined it
    assert writes == ["INSERT INTO transitions"] * 2 + ["INSERT INTO events"] * 2
    assert prostop.ledger.event_count() == 3 and prostop.audit.verify().ok


def test_the_audit_entries_of_a_stored_event_are_appended_not_read_back(
    prostop: Prostop, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prostop_plugin.audit.log import AuditEntry

    built = calls_of(monkeypatch, AuditEntry, "from_fields")
    record = prostop.engine.record_event(rtpcr_event(n=6, when=WHEN, message_id="M6"))
    assert built == []  # the ledger needs each entry's number, not an AuditEntry
    entries = [e for e in prostop.audit.entries() if e.issuance_id == record.id]
    assert [e.action for e in entries] == ["transition:received",
                                           "transition:awaiting_confirmation"]
    assert prostop.audit.verify().ok
