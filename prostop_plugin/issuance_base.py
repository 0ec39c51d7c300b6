"""The issuance engine's shared parts: settings, ledger and hooks, saving a step, and the reads."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Sequence
from datetime import date, datetime
from zoneinfo import ZoneInfo

from prostop_plugin import eligibility
from prostop_plugin.config import Settings
from prostop_plugin.events import (
    CodeRequest,
    ConfirmationRequest,
    DiagnosisEvent,
    EligibilityDecision,
    Evidence,
    IssuanceRecord,
    IssuanceState,
    PatientRef,
    PreviousIssuance,
    utcnow,
)
from prostop_plugin.issuers import CodeIssuer
from prostop_plugin.ledger import Ledger
from prostop_plugin.plugins import HookFacade

# the flow's one logger, whichever file a step lives in (log lines name it)
log = logging.getLogger("prostop_plugin.issuance")

S = IssuanceState
PARIS = ZoneInfo("Europe/Paris")
#: states in which a record holds a code (for "codes this patient received before")
_WITH_CODE = (S.ISSUED, S.WRITTEN_BACK, S.WRITE_BACK_FAILED, S.EXPIRED)


def new_issuance_id() -> str:
    return secrets.token_hex(6)


def _merge_evidence(events: Sequence[DiagnosisEvent]) -> list[Evidence]:
    """The episode's evidence: every event's, once each (a resent result counts once)."""
    seen: set[str] = set()
    merged: list[Evidence] = []
    for event in events:
        for item in event.evidence:
            key = item.model_dump_json()
            if key not in seen:
                seen.add(key)
                merged.append(item)
    return merged


class IssuanceBase:
    """What every part of :class:`~prostop_plugin.issuance.IssuanceEngine` builds on."""

    def __init__(
        self,
        settings: Settings,
        ledger: Ledger,
        hooks: HookFacade,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.settings = settings
        self.ledger = ledger
        self.hooks = hooks
        self.clock = clock
        self._issuer: CodeIssuer | None = None

    # -- small helpers ---------------------------------------------------------------------

    @property
    def policy(self) -> eligibility.EligibilityPolicy:
        return self.settings.eligibility

    def today(self) -> date:
        return self.settings.as_of or self.clock().astimezone(PARIS).date()

    def _notify(self, record: IssuanceRecord, previous: IssuanceState | None) -> None:
        if previous == record.state and previous is not None:
            return
        log.info(
            "issuance %s: %s -> %s%s", record.id, previous.value if previous else "-",
            record.state.value, f" (code …{record.code_last2})" if record.code_last2 else "",
        )
        self.hooks.issuance_changed(record.model_copy(update={"code": None}), previous)

    def _save(
        self, record: IssuanceRecord, *, expect: IssuanceState | tuple[IssuanceState, ...],
        actor: str = "system", lease: float | None = None,
    ) -> IssuanceState:
        with self.ledger.transaction() as conn:
            previous = self.ledger.save(
                conn, record, expect=expect, actor=actor, lease_seconds=lease, now=self.clock()
            )
        self._notify(record, previous)
        return previous

    def issuer(self) -> CodeIssuer:
        if self._issuer is None:
            self._issuer = self.hooks.code_issuer(self.settings)
        return self._issuer

    def close(self) -> None:
        if self._issuer is not None:
            self._issuer.close()
            self._issuer = None

    def advance(self, issuance_id: str) -> IssuanceRecord:
        """Run the next steps that need no human: the state machine, in IssuanceEngine."""
        raise NotImplementedError

    # -- reads, and the requests the flow sends out -------------------------------------------

    def episode_evidence(self, record: IssuanceRecord) -> list[Evidence]:
        return _merge_evidence(self.ledger.episode_events(record.episode))

    def evaluate(self, record: IssuanceRecord) -> EligibilityDecision:
        return eligibility.evaluate(self.episode_evidence(record), self.policy, self.today())

    def confirmation_request(self, record: IssuanceRecord) -> ConfirmationRequest:
        assert record.decision is not None
        return ConfirmationRequest(
            issuance_id=record.id,
            patient=record.event.patient,
            practitioner=record.event.practitioner,
            decision=record.decision,
            previous_issuances=self.previous_issuances(record),
            binding_message=record.binding_message,
            locale=record.locale,
        )

    def patient_issuances(self, patient: PatientRef, host: str) -> list[IssuanceRecord]:
        """Every issuance of a patient, oldest first (without codes): for a host's record."""
        return self.ledger.patient_history(self.ledger.patient_key_for(patient, host))

    def previous_issuances(self, record: IssuanceRecord) -> list[PreviousIssuance]:
        history = self.ledger.patient_history(self.ledger.patient_key(record.event))
        return [
            PreviousIssuance(
                issuance_id=h.id, state=h.state, issued_at=h.issued_at,
                valid_until=h.valid_until, code_last2=h.code_last2,
            )
            for h in history
            if h.id != record.id and (h.state in _WITH_CODE or h.state == S.DECLINED)
        ]

    def code_request(self, record: IssuanceRecord) -> CodeRequest:
        assert record.decision is not None and record.confirmation is not None
        decision, answer = record.decision, record.confirmation
        symptom_date = answer.symptom_onset or (
            decision.reference_date if decision.reference_date_kind == "symptom_onset" else None
        )
        test_date = decision.reference_date if decision.reference_date_kind == "test_date" else None
        return CodeRequest(
            idempotency_key=record.id,
            test_type="confirmed" if decision.decision == "confirmed" else "likely",
            symptom_date=symptom_date,
            test_date=test_date,
        )
