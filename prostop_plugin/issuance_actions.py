"""What a physician or an admin does to issuances: retry, re-issue, flag, and the queues."""

from __future__ import annotations

from prostop_plugin.errors import InvalidTransition
from prostop_plugin.events import (
    ConfirmationRequest,
    DiagnosisEvent,
    IssuanceRecord,
    LabResult,
    ResultCorrection,
)
from prostop_plugin.issuance_base import _WITH_CODE, S, new_issuance_id
from prostop_plugin.issuance_writeback import WriteBackSteps
from prostop_plugin.texts import Message, localized


class IssuanceActions(WriteBackSteps):
    """The actions and queues of :class:`~prostop_plugin.issuance.IssuanceEngine`."""

    # -- actions a physician or an admin takes ------------------------------------------------

    def retry(self, issuance_id: str) -> IssuanceRecord:
        """Retry a failed issue or write-back now."""
        record = self.ledger.get(issuance_id)
        if record.state == S.ISSUE_FAILED:
            record.state = S.APPROVED
            self._save(record, expect=S.ISSUE_FAILED)
        elif record.state == S.WRITE_BACK_FAILED:
            entry = self.ledger.outbox_entry(issuance_id)
            with self.ledger.transaction() as conn:
                self.ledger.schedule_write_back(
                    conn, issuance_id, at=self.clock(),
                    attempts=entry.attempts if entry else 0, status="pending",
                    error=entry.last_error if entry else None,
                )
        else:
            raise InvalidTransition(
                f"nothing to retry: the issuance is '{record.state.value}'",
                where=f"issuance {issuance_id}",
            )
        return self.advance(issuance_id)

    def reissue(self, issuance_id: str) -> IssuanceRecord:
        """After a code expired unused: a new issuance for the same episode, linked to it.

        It is evaluated again (as of today) and asks for confirmation like any other.
        """
        old = self.ledger.get(issuance_id)
        if old.state != S.EXPIRED:
            raise InvalidTransition(
                f"only an expired code can be re-issued; this one is '{old.state.value}'",
                where=f"issuance {issuance_id}",
            )
        now = self.clock()
        new = IssuanceRecord(
            id=new_issuance_id(), episode=old.episode, state=S.RECEIVED, event=old.event,
            replaces=old.id, created_at=now, updated_at=now,
        )
        with self.ledger.transaction() as conn:
            start = self.ledger.latest_in_patient(conn, self.ledger.patient_key(old.event))
            self.ledger.insert_issuance(
                conn, new, patient_key=self.ledger.patient_key(old.event),
                episode_start=start[2] if start else self.today(), actor="system",
            )
        self._notify(new, None)
        return self.advance(new.id)

    def result_corrected(self, correction: ResultCorrection) -> list[IssuanceRecord]:
        """Flag the issuances whose code rested on a result that was corrected or deleted."""
        probe = DiagnosisEvent(
            source=correction.source, patient=correction.patient, evidence=[correction.result]
        )
        flagged: list[IssuanceRecord] = []
        changed = correction.result
        for record in self.ledger.patient_history(self.ledger.patient_key(probe)):
            if record.state not in _WITH_CODE and record.state not in (S.ISSUING, S.APPROVED):
                continue
            if not any(
                isinstance(e, LabResult) and e.test == changed.test
                and (changed.collected_at is None or e.collected_at == changed.collected_at)
                for e in self.episode_evidence(record)
            ):
                continue
            kind = Message.RESULT_DELETED if changed.status == "D" else Message.RESULT_CORRECTED
            record.flag = localized(
                kind, test=changed.test.code, issued_on=record.issued_at or record.created_at
            )
            self._save(record, expect=record.state)
            self.hooks.issuance_changed(record.model_copy(update={"code": None}), record.state)
            flagged.append(record)
        return flagged

    # -- queues ----------------------------------------------------------------------------

    def pending(self) -> list[ConfirmationRequest]:
        return [
            self.confirmation_request(r)
            for r in self.ledger.records_in_states(S.AWAITING_CONFIRMATION)
        ]

    def resume(self) -> list[IssuanceRecord]:
        """Advance every unfinished issuance once (start-up, worker tick, after a crash)."""
        now = self.clock()
        for expired_id in self.ledger.expired_candidates(now):
            self._expire_if_due(self.ledger.get(expired_id))
        # not awaiting_confirmation: those wait for a physician (the pending queue), and
        # asking a host's dialog again at every tick would pester the physician
        ids = self.ledger.ids_in_states(
            S.RECEIVED, S.APPROVED, S.ISSUING, S.ISSUED, S.WRITE_BACK_FAILED,
        )
        return [self.advance(i) for i in ids]
