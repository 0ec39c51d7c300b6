"""The issuance flow end to end with throw-away plugins for every hook (real ledger file)."""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from prostop_plugin import hookimpl
from prostop_plugin.app import Prostop
from prostop_plugin.config import Settings
from prostop_plugin.errors import ConfirmationRefused, InvalidTransition, IssuerError
from prostop_plugin.models import IssuanceRecord, IssuanceState
from prostop_plugin.simulator import RunningSimulator
from tests.fixtures.builders import (
    DURAND,
    Clock,
    HostPlugin,
    approve,
    probable_event,
    rtpcr_event,
    serology_event,
    settings_for,
)
from tests.fixtures.simulator import minted_token, psc_settings

S = IssuanceState


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_host(clock: Clock, simulator: RunningSimulator) -> Callable[[], HostPlugin]:
    """Hosts handing over tokens signed by the simulated PSC (every token is verified)."""
    return lambda: HostPlugin(clock=clock, decision=approve(),
                              tokens=lambda who: minted_token(simulator, who.national_id))


@pytest.fixture
def host(make_host: Callable[[], HostPlugin]) -> HostPlugin:
    return make_host()


@pytest.fixture
def settings(tmp_path: Path, simulator: RunningSimulator) -> Callable[..., Settings]:
    return lambda **values: settings_for(tmp_path, psc=psc_settings(simulator), **values)


@pytest.fixture
def prostop(settings: Callable[..., Settings], clock: Clock,
            host: HostPlugin) -> Iterator[Prostop]:
    with Prostop.open(settings(), plugins=[host], clock=clock) as app:
        yield app


def test_complete_ordered_trace_of_a_successful_issuance(
    prostop: Prostop, host: HostPlugin, clock: Clock
) -> None:
    assert [a.name for a in prostop.hooks.adapters()] == ["test"]
    record = prostop.hooks.diagnosis_recorded(rtpcr_event(when=clock()))
    assert record is not None and record.state == S.WRITTEN_BACK
    assert host.trace == [
        "configure",
        "register_adapters",
        "changed:received",
        "changed:awaiting_confirmation",
        "confirm:confirmed",
        "changed:approved",
        "changed:issuing",
        "token",
        "code_issuer",
        "issue",
        "changed:issued",
        "write_back",
        "changed:written_back",
    ]
    assert [t[1] for t in prostop.ledger.transitions(record.id)] == [
        "received", "awaiting_confirmation", "approved", "issuing", "issued", "written_back",
    ]
    written = host.written[0]
    assert written.code is not None and len(written.code.get_secret_value()) == 6
    assert record.code_last2 == written.code.get_secret_value()[-2:]
    assert record.receipts[0].target == "record/DOS-0001"
    assert prostop.audit.verify().ok


def test_the_code_request_carries_no_patient_data(
    prostop: Prostop, host: HostPlugin, clock: Clock
) -> None:
    prostop.hooks.diagnosis_recorded(rtpcr_event(when=clock()))
    assert host.issuer is not None
    sent = host.issuer.requests[0].model_dump_json()
    for identifying in ("DUPONT", "Camille", "DOS-0001", "1980"):
        assert identifying not in sent
    assert host.issuer.requests[0].test_type == "confirmed"


def test_not_eligible_stops_before_confirmation(
    prostop: Prostop, host: HostPlugin, clock: Clock
) -> None:
    record = prostop.hooks.diagnosis_recorded(serology_event(when=clock()))
    assert record is not None and record.state == S.NOT_ELIGIBLE
    assert record.decision is not None and record.decision.reasons
    assert not any(t.startswith("confirm") for t in host.trace)


def test_probable_case_is_issued_as_likely(
    prostop: Prostop, host: HostPlugin, clock: Clock
) -> None:
    host.decision = approve(qr=False)
    record = prostop.hooks.diagnosis_recorded(probable_event(when=clock()))
    assert record is not None and record.state == S.WRITTEN_BACK
    assert host.issuer is not None and host.issuer.requests[0].test_type == "likely"
    assert host.issuer.requests[0].symptom_date is not None


def test_no_ui_channel_waits_in_pending_then_cli_style_decision(
    prostop: Prostop, host: HostPlugin, clock: Clock
) -> None:
    host.decision = None
    record = prostop.hooks.diagnosis_recorded(rtpcr_event(when=clock()))
    assert record is not None and record.state == S.AWAITING_CONFIRMATION
    pending = prostop.engine.pending()
    assert [p.issuance_id for p in pending] == [record.id]
    assert pending[0].decision.requires_qr_attestation
    with pytest.raises(ConfirmationRefused) as refused:
        prostop.engine.decide(record.id, approve(qr=False))
    assert "QR code SI-DEP" in refused.value.fr
    assert prostop.ledger.get(record.id).state == S.AWAITING_CONFIRMATION
    done = prostop.engine.decide(record.id, approve())
    assert done.state == S.WRITTEN_BACK
    with pytest.raises(InvalidTransition):
        prostop.engine.decide(record.id, approve())


def test_decline_needs_a_reason_and_is_terminal(
    prostop: Prostop, host: HostPlugin, clock: Clock
) -> None:
    host.decision = None
    record = prostop.hooks.diagnosis_recorded(rtpcr_event(when=clock()))
    assert record is not None
    from prostop_plugin.models import ConfirmationDecision

    with pytest.raises(ConfirmationRefused):
        prostop.engine.decide(record.id, ConfirmationDecision(approved=False, practitioner=DURAND))
    declined = prostop.engine.decide(record.id, ConfirmationDecision(
        approved=False, practitioner=DURAND, decline_reason="le patient a son QR code"))
    assert declined.state == S.DECLINED
    assert prostop.ledger.transitions(record.id)[-1][2] == DURAND.national_id
    assert host.issuer is not None and host.issuer.requests == []


def test_issuer_failure_is_visible_and_retryable(
    prostop: Prostop, host: HostPlugin, clock: Clock
) -> None:
    assert host.issuer is not None
    host.issuer.fail_next.append(IssuerError("HTTP 503 from the code service", retryable=True))
    record = prostop.hooks.diagnosis_recorded(rtpcr_event(when=clock()))
    assert record is not None and record.state == S.ISSUE_FAILED
    assert record.error is not None and "ProStopCovid" in record.error.fr
    retried = prostop.engine.retry(record.id)
    assert retried.state == S.WRITTEN_BACK


def test_write_back_failure_is_visible_then_retried(
    prostop: Prostop, host: HostPlugin, clock: Clock
) -> None:
    host.write_back_error = OSError("host database locked")
    record = prostop.hooks.diagnosis_recorded(rtpcr_event(when=clock()))
    assert record is not None and record.state == S.WRITE_BACK_FAILED
    assert record.error is not None and "host database locked" in record.error.en
    entry = prostop.ledger.outbox_entry(record.id)
    assert entry is not None and entry.status == "pending" and entry.attempts == 1
    host.write_back_error = None
    prostop.engine.resume()
    assert prostop.ledger.get(record.id).state == S.WRITE_BACK_FAILED  # backoff not yet due
    clock.advance(seconds=5)
    prostop.engine.resume()
    assert prostop.ledger.get(record.id).state == S.WRITTEN_BACK


def test_a_failing_observer_neither_stops_the_flow_nor_other_observers(
    settings: Callable[..., Settings], clock: Clock, host: HostPlugin
) -> None:
    class Broken:
        @hookimpl
        def prostop_issuance_changed(self, record: IssuanceRecord, previous: object) -> None:
            raise RuntimeError("statistics server down")

    with Prostop.open(settings(), plugins=[Broken(), host], clock=clock) as app:
        record = app.hooks.diagnosis_recorded(rtpcr_event(when=clock()))
        assert record is not None and record.state == S.WRITTEN_BACK
        assert "changed:written_back" in host.trace
        failures = [e for e in app.audit.entries() if e.action == "observer_failed"]
        assert failures and "statistics server down" in str(failures[0].details)
        assert app.audit.verify().ok


def test_same_event_twice_is_answered_from_the_ledger(
    prostop: Prostop, host: HostPlugin, clock: Clock
) -> None:
    event = rtpcr_event(when=clock(), message_id="LG20201119-0001")
    first = prostop.hooks.diagnosis_recorded(event)
    again = prostop.hooks.diagnosis_recorded(event.model_copy(deep=True))
    assert first is not None and again is not None and again.id == first.id
    assert prostop.ledger.event_count() == 1
    assert host.issuer is not None and len(host.issuer.requests) == 1


def test_another_event_in_the_same_episode_gets_no_second_code(
    prostop: Prostop, host: HostPlugin, clock: Clock
) -> None:
    first = prostop.hooks.diagnosis_recorded(rtpcr_event(when=clock()))
    clock.advance(days=2)
    second = prostop.hooks.diagnosis_recorded(rtpcr_event(when=clock()))
    assert first is not None and second is not None and second.id == first.id
    assert prostop.ledger.event_count() == 2
    assert host.issuer is not None and len(host.issuer.requests) == 1


def test_evidence_accumulates_across_events_of_an_episode(
    prostop: Prostop, host: HostPlugin, clock: Clock
) -> None:
    """U07.2 with symptoms first (not eligible), then the chest CT: probable."""
    host.decision = approve(qr=False)
    full = probable_event(n=7, when=clock())
    diagnosis = full.model_copy(update={"evidence": full.evidence[:2]})
    imaging = full.model_copy(update={"evidence": full.evidence[2:], "source":
                                      full.source.model_copy(update={"message_id": "CT-1"})})
    first = prostop.hooks.diagnosis_recorded(diagnosis)
    assert first is not None and first.state == S.NOT_ELIGIBLE
    second = prostop.hooks.diagnosis_recorded(imaging)
    assert second is not None and second.id != first.id and second.episode == first.episode
    assert second.decision is not None and second.decision.decision == "probable"
    assert second.state == S.WRITTEN_BACK


def test_expiry_then_reissue_links_the_new_record(
    prostop: Prostop, host: HostPlugin, clock: Clock
) -> None:
    record = prostop.hooks.diagnosis_recorded(rtpcr_event(when=clock()))
    assert record is not None
    clock.advance(minutes=61)
    prostop.engine.resume()
    assert prostop.ledger.get(record.id).state == S.EXPIRED
    again = prostop.hooks.diagnosis_recorded(rtpcr_event(when=clock()))
    assert again is not None and again.id == record.id  # answered: expired, re-issue is explicit
    new = prostop.engine.reissue(record.id, unused_attested=True)
    assert new.replaces == record.id and new.state == S.WRITTEN_BACK
    assert new.episode == record.episode
    request_history = prostop.engine.previous_issuances(new)
    assert [p.issuance_id for p in request_history] == [record.id]
    with pytest.raises(InvalidTransition):
        prostop.engine.reissue(new.id, unused_attested=True)


def test_confirmation_shows_codes_this_patient_received_before(
    prostop: Prostop, host: HostPlugin, clock: Clock
) -> None:
    first = prostop.hooks.diagnosis_recorded(rtpcr_event(when=clock()))
    assert first is not None
    clock.advance(days=40)
    host.decision = None
    later = prostop.hooks.diagnosis_recorded(rtpcr_event(when=clock()))
    assert later is not None and later.id != first.id and later.episode != first.episode
    request = prostop.engine.pending()[0]
    assert request.previous_issuances[0].issuance_id == first.id
    assert request.previous_issuances[0].code_last2 == first.code_last2


def test_nurse_may_issue_pharmacist_may_not(
    prostop: Prostop, host: HostPlugin, clock: Clock
) -> None:
    from prostop_plugin.models import ConfirmationDecision, Practitioner

    host.decision = None
    record = prostop.hooks.diagnosis_recorded(rtpcr_event(when=clock()))
    assert record is not None
    pharmacist = Practitioner(national_id="10001112223", profession_code="21")
    with pytest.raises(ConfirmationRefused) as refused:
        prostop.engine.decide(record.id, ConfirmationDecision(
            approved=True, practitioner=pharmacist, qr_unavailable_attested=True))
    assert "médecins et infirmiers" in refused.value.fr


def test_concurrent_events_for_one_patient_yield_one_code(
    settings: Callable[..., Settings], clock: Clock, make_host: Callable[[], HostPlugin]
) -> None:
    """Eight threads, each with its own runtime on the same ledger file."""
    hosts = [make_host() for _ in range(8)]
    shared = settings()
    Prostop.open(shared, clock=clock).close()  # create keys once, as `prostop init` does
    barrier = threading.Barrier(len(hosts))
    results: list[IssuanceRecord | None] = []

    def deliver(host: HostPlugin) -> None:
        with Prostop.open(shared, plugins=[host], clock=clock) as app:
            barrier.wait()
            results.append(app.hooks.diagnosis_recorded(rtpcr_event(when=clock())))

    threads = [threading.Thread(target=deliver, args=(h,)) for h in hosts]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(results) == 8 and len({r.id for r in results if r}) == 1
    issued = sum(len(h.issuer.requests) for h in hosts if h.issuer)
    assert issued == 1


def test_nothing_in_clear_at_rest_nor_in_logs(
    prostop: Prostop, host: HostPlugin, clock: Clock, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    host.write_back_error = OSError("host busy")  # exercise the failure paths' logging too
    record = prostop.hooks.diagnosis_recorded(rtpcr_event(when=clock(), ins="280013306312376"))
    assert record is not None
    host.write_back_error = None
    prostop.engine.retry(record.id)
    code = host.written[0].code
    assert code is not None
    assert code.get_secret_value() not in caplog.text
    assert f"…{code.get_secret_value()[-2:]}" in caplog.text  # what logs may carry
    prostop.ledger.close()
    secrets_found = []
    for path in (tmp_path / "var").rglob("*"):
        if path.is_file() and path.parent.name != "keys":
            data = path.read_bytes()
            for needle in (code.get_secret_value(), "DUPONT", "280013306312376", "DOS-0001"):
                if needle.encode() in data:
                    secrets_found.append((path.name, needle))
    assert secrets_found == []
    # and the SQLite file is a real, readable ledger
    conn = sqlite3.connect(tmp_path / "var" / "ledger.sqlite3")
    assert conn.execute("select count(*) from issuances").fetchone()[0] == 1


def test_a_corrected_result_flags_the_issuance_and_tells_the_physician(
    prostop: Prostop, host: HostPlugin, clock: Clock
) -> None:
    from prostop_plugin.models import Coding, ResultCorrection

    event = rtpcr_event(when=clock())
    record = prostop.hooks.diagnosis_recorded(event)
    assert record is not None and record.state == S.WRITTEN_BACK
    original = event.evidence[0]
    corrected = original.model_copy(update={  # type: ignore[union-attr]
        "status": "C", "value_coded": Coding(code="260385009", system="SCT")})
    host.trace.clear()
    prostop.hooks.result_corrected(ResultCorrection(
        source=event.source, patient=event.patient, result=corrected))
    flagged = prostop.ledger.get(record.id)
    assert flagged.flag is not None and "corrigé" in flagged.flag.fr
    assert flagged.state == S.WRITTEN_BACK  # a code cannot be withdrawn: flag, don't undo
    assert "changed:written_back" in host.trace  # observers (the physician's inbox) are told


def test_a_correction_of_another_result_flags_nothing(
    prostop: Prostop, host: HostPlugin, clock: Clock
) -> None:
    from prostop_plugin.models import Coding, LabResult, ResultCorrection

    event = rtpcr_event(when=clock())
    record = prostop.hooks.diagnosis_recorded(event)
    assert record is not None
    other = LabResult(test=Coding(code="2345-7", system="LN"), status="C", value_numeric=5.1)
    prostop.hooks.result_corrected(ResultCorrection(
        source=event.source, patient=event.patient, result=other))
    assert prostop.ledger.get(record.id).flag is None


def test_the_worker_does_not_ask_the_physician_again_and_again(
    prostop: Prostop, host: HostPlugin, clock: Clock
) -> None:
    host.decision = None  # the physician chose "decide later"
    record = prostop.hooks.diagnosis_recorded(rtpcr_event(when=clock()))
    assert record is not None and record.state == S.AWAITING_CONFIRMATION
    asked = host.trace.count("confirm:confirmed")
    for _ in range(3):
        prostop.engine.resume()
    assert host.trace.count("confirm:confirmed") == asked == 1
    assert [r.issuance_id for r in prostop.engine.pending()] == [record.id]


def test_the_installation_language_applies_to_events_that_name_none(
    settings: Callable[..., Settings], clock: Clock, host: HostPlugin
) -> None:
    event = rtpcr_event(when=clock())
    assert event.locale is None  # what the HL7/HPRIM/CDA readers produce
    with Prostop.open(settings(locale="en"), plugins=[host], clock=clock) as app:
        record = app.hooks.diagnosis_recorded(event)
        assert record is not None and record.locale == "en"
        french = rtpcr_event(n=9, when=clock()).model_copy(update={"locale": "fr"})
        kept = app.hooks.diagnosis_recorded(french)
        assert kept is not None and kept.locale == "fr"  # an event's own choice wins
