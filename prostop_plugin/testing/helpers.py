"""Helpers for tests of adapters and hosts: events, a scripted physician, an issued record,
and a runtime's settings pointing at the simulator."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from prostop_plugin.app import Prostop
from prostop_plugin.config import Settings
from prostop_plugin.hooks import hookimpl
from prostop_plugin.models import (
    Coding,
    ConfirmationDecision,
    ConfirmationRequest,
    DiagnosisEvent,
    EventSource,
    IssuanceRecord,
    IssuanceState,
    LabResult,
    PatientRef,
    Practitioner,
)
from prostop_plugin.testing.simulator import code_service_settings, psc_settings
from prostop_plugin.values import PARIS

if TYPE_CHECKING:
    from prostop_plugin.simulator.server import RunningSimulator

#: a physician the simulator's Pro Santé Connect knows (her e-CPS approves at once)
DR_DURAND = Practitioner(national_id="810003456789", family_name="DURAND", given_name="Claire",
                         profession_code="10")

Answer = Literal["approve", "decline", "wait"]


def runtime_settings(data_dir: Path, simulator: RunningSimulator, **values: Any) -> Settings:
    """Settings of a runtime in ``data_dir`` talking to ``simulator``; a failed write-back is
    due again at once (so a retry needs no waiting). ``values`` override any key."""
    base: dict[str, Any] = {
        "data_dir": data_dir,
        "code_service": code_service_settings(simulator),
        "psc": psc_settings(simulator),
        "write_back": {"backoff_initial": 0.0, "backoff_max": 1.0},
    }
    return Settings(**(base | values))


def patient_ref(n: int = 1) -> PatientRef:
    """A fictional patient of the host, ``DOS-000n``; the same ``n`` is the same patient."""
    return PatientRef(host_patient_id=f"DOS-{n:04d}", family_name="DUPONT",
                      given_name="Camille", birth_date=date(1980, 1, 15), sex="F")


def positive_pcr_event(
    adapter: str, *, n: int = 1, on: date | None = None, host: str = "LABO-GARONNE",
    message_id: str | None = None, practitioner: Practitioner | None = DR_DURAND,
) -> DiagnosisEvent:
    """An eligible event (a final positive SARS-CoV-2 RT-PCR, sampled the day before ``on``)
    from ``adapter`` for patient ``n``. ``on`` defaults to today in Paris; pass
    ``runtime.engine.today()`` for a runtime evaluating as of another day."""
    day = on or datetime.now(PARIS).date()
    recorded = datetime.combine(day, clock_time(11, 0), tzinfo=PARIS)
    collected = recorded - timedelta(days=1, hours=2)
    return DiagnosisEvent(
        source=EventSource(adapter=adapter, host=host,
                           message_id=message_id or f"TEST-{secrets.token_hex(6)}"),
        patient=patient_ref(n), practitioner=practitioner, recorded_at=recorded,
        evidence=[LabResult(
            test=Coding(code="94500-6", system="LN"), value_type="CWE",
            value_coded=Coding(code="10828004", system="SCT", display="positif"),
            status="F", collected_at=collected, observed_at=collected + timedelta(hours=20),
        )],
    )


class ScriptedPhysician:
    """A physician answering confirmation requests as scripted.

    As a plugin (``plugins=[physician]``) its dialog hook answers at once: the scripted answers
    in order, then ``then`` for every later request (``"wait"``: no answer, the request stays in
    the pending queue). As a helper, :meth:`decide` and :meth:`decide_pending` answer what waits,
    as ``prostop pending approve`` does. An approval carries the attestations the request
    needs. ``adapter``: answer only requests from that adapter.
    """

    def __init__(
        self, *script: Answer, then: Answer = "approve", practitioner: Practitioner = DR_DURAND,
        adapter: str | None = None,
        decline_reason: str = "la patiente utilisera son QR code SI-DEP",
    ) -> None:
        self.script = list(script)
        self.then: Answer = then
        self.practitioner = practitioner
        self.adapter = adapter
        self.decline_reason = decline_reason
        #: every request the dialog hook was asked about, in order
        self.asked: list[ConfirmationRequest] = []

    def next_answer(self) -> Answer:
        return self.script.pop(0) if self.script else self.then

    def decision_for(
        self, request: ConfirmationRequest, answer: Answer = "approve"
    ) -> ConfirmationDecision:
        """The physician's decision on ``request``: an approval with what it must attest."""
        if answer == "decline":
            return ConfirmationDecision(approved=False, practitioner=self.practitioner,
                                        decline_reason=self.decline_reason)
        needs = request.decision
        return ConfirmationDecision(
            approved=True, practitioner=self.practitioner,
            qr_unavailable_attested=needs.requires_qr_attestation,
            rtpcr_positive_attested=needs.requires_rtpcr_attestation,
        )

    @hookimpl
    def prostop_confirm_issuance(self, request: ConfirmationRequest) -> ConfirmationDecision | None:
        if self.adapter is not None and request.source.adapter != self.adapter:
            return None
        self.asked.append(request)
        answer = self.next_answer()
        return None if answer == "wait" else self.decision_for(request, answer)

    def decide(
        self, runtime: Prostop, issuance_id: str, answer: Answer = "approve", *,
        advance: bool = True,
    ) -> IssuanceRecord:
        """Decide the request of ``issuance_id`` (which must wait for a physician); with
        ``advance`` the flow then runs on this thread (to the code, the write-back)."""
        request = runtime.engine.confirmation_request(runtime.ledger.get(issuance_id))
        return runtime.engine.decide(issuance_id, self.decision_for(request, answer),
                                     advance=advance)

    def decide_pending(self, runtime: Prostop, answer: Answer = "approve") -> list[IssuanceRecord]:
        """Decide every request in the pending queue; the records where their flow stopped."""
        return [self.decide(runtime, request.issuance_id, answer)
                for request in runtime.engine.pending()]


def issued_record(
    runtime: Prostop, *, adapter: str = "prostop-testing", n: int = 1,
    physician: ScriptedPhysician | None = None,
) -> IssuanceRecord:
    """Run an eligible event of ``adapter`` for patient ``n`` to its code, on this thread:
    stored, evaluated, approved by ``physician`` (Dr DURAND), the code obtained (CIBA with the
    simulator) and handed to the write-back hooks. Returns the record where the flow stopped:
    ``written_back`` when an adapter took the write-back, else ``write_back_failed``.

    :raises AssertionError: when no code was obtained (the record's error says why).
    """
    engine = runtime.engine
    record, _ = engine.ingest(positive_pcr_event(adapter, n=n, on=engine.today()))
    record = engine.evaluate_waiting(record.id)
    if record.state == IssuanceState.AWAITING_CONFIRMATION:
        record = (physician or ScriptedPhysician()).decide(runtime, record.id)
    if not record.state.received_code:
        error = record.error.en if record.error else "no error recorded"
        raise AssertionError(f"issuance {record.id} is '{record.state.value}', no code: {error}")
    return record


def wait_until(
    predicate: Callable[[], bool], *, timeout: float = 30.0, what: str = "the condition"
) -> None:
    """Poll ``predicate`` every 20 ms until it holds; fail after ``timeout`` seconds (a bound,
    not a measure: the tests never assert on time)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.02)
