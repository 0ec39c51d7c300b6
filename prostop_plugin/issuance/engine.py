"""The issuance flow: the state machine of DESIGN.md, driven step by step from the ledger.

::

    received ─▶ not_eligible
            └─▶ awaiting_confirmation ─▶ declined
                                      └─▶ approved ─▶ issuing ─▶ issued ─▶ written_back
                                                          │          └─▶ write_back_failed
                                                          └─▶ issue_failed
    issued/written_back/write_back_failed ─▶ expired ─▶ (re-issue: a new record, linked)

Each step reads the record from the ledger, does one thing, and commits the new state before
the next step starts. So :meth:`IssuanceEngine.advance` can be called again at any time (after
a crash, from another process) and resumes where the flow stopped; compare-and-set on the state
and leases on the slow steps make sure two processes never both issue a code for one record.

The engine is one class that composes its collaborators: :class:`~.transitions.Transitions`
(commit a step, tell the observers), :class:`~.writeback.WriteBack` (write-back and expiry),
and the pure functions of :mod:`~.requests` (what is sent out, what a decision must hold).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime

from prostop_plugin import eligibility
from prostop_plugin.config import Settings
from prostop_plugin.errors import ConfirmationRefused, InvalidTransition, LedgerError, ProstopError
from prostop_plugin.issuance import requests
from prostop_plugin.issuance.committer import GroupCommitter
from prostop_plugin.issuance.intake import Intake
from prostop_plugin.issuance.transitions import Transitions, log
from prostop_plugin.issuance.writeback import WriteBack
from prostop_plugin.issuers import CodeIssuer
from prostop_plugin.keys import code_fingerprint
from prostop_plugin.ledger import Ledger
from prostop_plugin.models import (
    AccessToken,
    CodeRequest,
    ConfirmationDecision,
    ConfirmationRequest,
    DiagnosisEvent,
    EligibilityDecision,
    Evidence,
    IssuanceRecord,
    IssuanceState,
    LabResult,
    PatientRef,
    Practitioner,
    PreviousIssuance,
    ResultCorrection,
    utcnow,
)
from prostop_plugin.plugins import HookFacade
from prostop_plugin.psc import first_verified_token
from prostop_plugin.texts import Message, localized
from prostop_plugin.values import PARIS

S = IssuanceState
_MAX_STEPS = 12
_CLAIM_SECONDS = 120.0  #: a worker's claim on rows to resume (slow steps take their own)


class IssuanceEngine:
    """Drives issuances through the state machine; the built-in plugin delegates to it."""

    def __init__(
        self,
        settings: Settings,
        ledger: Ledger,
        hooks: HookFacade,
        *,
        clock: Callable[[], datetime] = utcnow,
        on_set_aside: Callable[[str, str], None] | None = None,
    ) -> None:
        """``on_set_aside(issuance_id, reason)``: told when recovery sets a damaged row aside
        (the runtime audits it)."""
        self.settings = settings
        self.on_set_aside = on_set_aside
        self.ledger = ledger
        self.hooks = hooks
        self.clock = clock
        self.transitions = Transitions(ledger, hooks, clock)
        self.writeback = WriteBack(settings, self.transitions)
        self.intake = Intake(settings, self.transitions)
        self.committer = GroupCommitter(ledger)
        self._issuer: CodeIssuer | None = None

    # -- small helpers ---------------------------------------------------------------------

    @property
    def policy(self) -> eligibility.EligibilityPolicy:
        return self.settings.eligibility

    def today(self) -> date:
        return self.settings.as_of or self.clock().astimezone(PARIS).date()

    def issuer(self) -> CodeIssuer:
        if self._issuer is None:
            self._issuer = self.hooks.code_issuer(self.settings)
        return self._issuer

    def close(self) -> None:
        self.committer.close()
        if self._issuer is not None:
            self._issuer.close()
            self._issuer = None

    # -- reads, and the requests the flow sends out -------------------------------------------

    def episode_evidence(self, record: IssuanceRecord) -> list[Evidence]:
        return requests.merge_evidence(self.ledger.episode_events(record.episode))

    def evaluate(self, record: IssuanceRecord) -> EligibilityDecision:
        return eligibility.evaluate(self.episode_evidence(record), self.policy, self.today())

    def confirmation_request(self, record: IssuanceRecord) -> ConfirmationRequest:
        return requests.confirmation_request(record, self.previous_issuances(record))

    def patient_issuances(self, patient: PatientRef, host: str) -> list[IssuanceRecord]:
        """Every issuance of a patient, oldest first (without codes): for a host's record."""
        return self.ledger.patient_history(self.ledger.patient_key_for(patient, host))

    def previous_issuances(self, record: IssuanceRecord) -> list[PreviousIssuance]:
        history = self.ledger.patient_history(self.ledger.patient_key(record.event))
        return requests.previous_issuances(record, history)

    def code_request(self, record: IssuanceRecord) -> CodeRequest:
        return requests.code_request(record)

    # -- events in -------------------------------------------------------------------------

    def record_event(self, event: DiagnosisEvent) -> IssuanceRecord:
        """Store the event durably, then advance its issuance as far as it goes unattended
        (storing and evaluating are one commit, shared with other senders': see .committer)."""
        record, evaluated = self.committer.run(lambda: self._store_and_evaluate(event))
        if evaluated and not self.hooks.can_confirm():
            if record.state == S.AWAITING_CONFIRMATION and self.writes_notices(record):
                # it starts waiting: the notice (the request is built only for it)
                self.notify_waiting(self.confirmation_request(record), record)
            return record  # waits in the pending queue: nothing more to do unattended
        if record.state in (S.RECEIVED, S.AWAITING_CONFIRMATION):
            # new, or a resend after we crashed before deciding: carry on from the ledger
            return self.advance(record.id)
        return record

    def _store_and_evaluate(self, event: DiagnosisEvent) -> tuple[IssuanceRecord, bool]:
        """Store, and evaluate a new issuance in the same commit: (record, evaluated)."""
        record, created = self.intake.ingest(event, today=self.today(), evaluate=True)
        if created or record.state != S.RECEIVED:  # a new one: evaluated, unless that failed
            return record, created and record.state != S.RECEIVED
        try:
            with self.ledger.savepoint():  # a failed evaluation keeps the event stored
                self._evaluate(record)
        except Exception:
            log.exception("issuance %s: evaluation failed; stored, resumed later", record.id)
            return self.ledger.get(record.id), False
        return record, True

    def ingest(self, event: DiagnosisEvent) -> tuple[IssuanceRecord, bool]:
        """Durably store the event and attach it to an issuance (see :mod:`.intake`)."""
        return self.intake.ingest(event, today=self.today())

    # -- the state machine -----------------------------------------------------------------

    def advance(self, issuance_id: str) -> IssuanceRecord:
        """Run the next steps that need no human; return the record where it stopped."""
        for _ in range(_MAX_STEPS):
            record = self.ledger.get(issuance_id)
            try:
                moved = self._step(record)
            except InvalidTransition as exc:
                # another process moved it first: theirs is the truth
                log.info("issuance %s: %s", issuance_id, exc)
                return self.ledger.get(issuance_id)
            if not moved:
                return self.ledger.get(issuance_id)
        return self.ledger.get(issuance_id)

    def _step(self, record: IssuanceRecord) -> bool:
        state = record.state
        if state == S.RECEIVED:
            self._evaluate(record)
            # it starts waiting now: the one time the adapter writes its notice
            return record.state == S.AWAITING_CONFIRMATION and self._ask_host(record, True)
        if state == S.AWAITING_CONFIRMATION:
            return self._ask_host(record)
        if state == S.APPROVED:
            self._issue(record)
            return True
        if state == S.ISSUING:
            if not self.ledger.lease_free(record.id, self.clock()):
                return False  # a live process is asking the service right now
            self._issue(record)  # its owner died mid-request: the orphan code just expires
            return True
        if state in (S.ISSUED, S.WRITE_BACK_FAILED):
            if self.writeback.expire_if_due(record):
                return False
            if not self.writeback.due(record):
                return False
            return self.writeback.attempt(record)
        if state == S.WRITTEN_BACK:
            self.writeback.expire_if_due(record)
        return False

    def _evaluate(self, record: IssuanceRecord) -> None:
        requests.apply_decision(record, self.evaluate(record))
        self.transitions.save(record, expect=S.RECEIVED)

    def _reevaluate(self, record: IssuanceRecord) -> bool:
        """An awaiting request, evaluated again; False when it is no longer eligible."""
        refreshed = self.evaluate(record)
        if refreshed != record.decision:  # new evidence joined the episode meanwhile
            record.decision = refreshed
            if refreshed.decision == "not_eligible":
                record.state = S.NOT_ELIGIBLE
            self.transitions.save(record, expect=S.AWAITING_CONFIRMATION)
        return record.state != S.NOT_ELIGIBLE

    def evaluate_waiting(self, issuance_id: str) -> IssuanceRecord:
        """Evaluate a received issuance, or an awaiting one again, without asking any host:
        the host API's recording (``Prostop.record``) shows the request itself."""
        record = self.ledger.get(issuance_id)
        try:
            if record.state == S.RECEIVED:
                self._evaluate(record)
            elif record.state == S.AWAITING_CONFIRMATION:
                self._reevaluate(record)
        except InvalidTransition as exc:  # another process moved it first: theirs is the truth
            log.info("issuance %s: %s", issuance_id, exc)
        return self.ledger.get(issuance_id)

    def writes_notices(self, record: IssuanceRecord) -> bool:
        """Whether :meth:`notify_waiting` writes a notice for this record (a console to
        link to, and ``notice_in_record``)."""
        console = self.settings.console
        return bool(console.notice_in_record and console.request_link(record.id))

    def notify_waiting(self, request: ConfirmationRequest, record: IssuanceRecord) -> None:
        """No dialog answered a request that starts waiting: the originating adapter writes
        its notice (with the console's link) into the patient record, once."""
        link = self.settings.console.request_link(record.id)
        if link and self.settings.console.notice_in_record:
            self.hooks.notify_pending(request, record, link)

    def _ask_host(self, record: IssuanceRecord, starts_waiting: bool = False) -> bool:
        if not self._reevaluate(record):
            return False
        request = self.confirmation_request(record)
        answer = self.hooks.confirm_issuance(request)
        if answer is None:  # no UI channel: waits in the pending queue (and the console)
            if starts_waiting:
                self.notify_waiting(request, record)
            return False
        self.decide(record.id, answer, advance=False)
        return True

    def decide(
        self, issuance_id: str, decision: ConfirmationDecision, *, advance: bool = True
    ) -> IssuanceRecord:
        """Apply a physician's decision; an approval then runs the flow to the code.

        :raises ConfirmationRefused: approval without a mandatory attestation, a profession
            not allowed to issue codes, a decline without a reason.
        """
        record = self.ledger.get(issuance_id)
        if record.state != S.AWAITING_CONFIRMATION:
            raise InvalidTransition(
                f"this issuance is '{record.state.value}', not awaiting confirmation",
                where=f"issuance {issuance_id}",
                fix="list the requests waiting with 'prostop pending list'",
            )
        assert record.decision is not None
        requests.check_decision(
            record.decision, decision, allowed_professions=self.policy.allowed_professions,
            today=self.today(),
        )
        record.confirmation = decision
        record.state = S.APPROVED if decision.approved else S.DECLINED
        self.transitions.save(
            record, expect=S.AWAITING_CONFIRMATION, actor=decision.practitioner.national_id
        )
        return self.advance(issuance_id) if advance else record

    def _token(self, practitioner: Practitioner, binding_message: str) -> AccessToken:
        # the one place the core takes a token: verified, identity from PSC's claims
        return first_verified_token(
            self.hooks, practitioner, binding_message, settings=self.settings.psc,
            allowed_professions=self.policy.allowed_professions, now=self.clock(),
        )

    def _issue(self, record: IssuanceRecord) -> None:
        assert record.confirmation is not None and record.binding_message is not None
        expected = record.state
        record.state = S.ISSUING
        record.error = None
        self.transitions.save(
            record, expect=expected, actor=record.confirmation.practitioner.national_id,
            lease=requests.issuing_lease(self.settings),
        )
        try:
            token = self._token(record.confirmation.practitioner, record.binding_message)
            issued = self.issuer().issue_code(token, self.code_request(record))
        except Exception as exc:  # every failure lands in a visible, retryable state
            if not isinstance(exc, ProstopError):
                log.exception("issuance %s: unexpected error while issuing", record.id)
            else:
                log.warning("issuance %s: no code: %s", record.id, exc)
            record.state = S.ISSUE_FAILED
            record.error = requests.failure_text(exc)
            self.transitions.save(record, expect=S.ISSUING)
            return
        code = issued.code.get_secret_value()
        record.code = issued.code
        record.code_digest, record.code_last2 = code_fingerprint(self.ledger.keyring, code)
        record.valid_from, record.valid_until = issued.valid_from, issued.valid_until
        record.issued_at = issued.generated_at or self.clock()
        record.state = S.ISSUED
        with self.ledger.transaction() as tx:
            previous = self.ledger.save(
                tx, record, expect=S.ISSUING, actor="system", now=self.clock()
            )
            self.ledger.schedule_write_back(tx, record.id, at=self.clock())
            self.transitions.notify_after_commit(tx, record, previous)

    # -- actions a physician or an admin takes ------------------------------------------------

    def retry(self, issuance_id: str) -> IssuanceRecord:
        """Retry a failed issue or write-back, or a row recovery had set aside, now."""
        if self.ledger.set_aside_reason(issuance_id) is not None:
            self.take_back(issuance_id)
            again = self._guarded(issuance_id, self.advance)
            if not isinstance(again, IssuanceRecord):
                raise LedgerError(
                    "still cannot be advanced: " + (self.ledger.set_aside_reason(issuance_id)
                                                    or "unknown reason"),
                    where=f"issuance {issuance_id}",
                    fix="restore the ledger and keys from the same backup; it stays set aside",
                )
            return again
        record = self.ledger.get(issuance_id)
        if record.state == S.ISSUE_FAILED:
            record.state = S.APPROVED
            self.transitions.save(record, expect=S.ISSUE_FAILED)
        elif record.state == S.WRITE_BACK_FAILED:
            self.writeback.rearm(issuance_id)
        else:
            raise InvalidTransition(
                f"nothing to retry: the issuance is '{record.state.value}'",
                where=f"issuance {issuance_id}",
            )
        return self.advance(issuance_id)

    def reissue(self, issuance_id: str, *, unused_attested: bool = False) -> IssuanceRecord:
        """After a code's validity passed: a new issuance for the same episode, linked to it.

        The plugin cannot know whether the patient entered the expired code: the physician
        attests they checked (``unused_attested``). One valid code per patient holds here
        too (:func:`~.requests.reissue_refusal`), checked inside the write transaction so that
        concurrent re-issues give one request. The new one is evaluated again (as of today)
        and asks for confirmation like any other.

        :raises ConfirmationRefused: no attestation, a code still valid, a newer code or
            request, a re-issue already made.
        """
        old = self.ledger.get(issuance_id)
        if old.state != S.EXPIRED:
            raise InvalidTransition(
                f"only an expired code can be re-issued; this one is '{old.state.value}'",
                where=f"issuance {issuance_id}",
            )
        if not unused_attested:
            text = localized(Message.REISSUE_UNUSED_MISSING)
            raise ConfirmationRefused(
                "the physician must attest that the patient did not enter the expired code",
                fr=text.fr, en=text.en, fix="re-issue with --attest-unused after checking",
            )
        now = self.clock()
        new = IssuanceRecord(
            id=requests.new_issuance_id(), episode=old.episode, state=S.RECEIVED,
            event=old.event, replaces=old.id, created_at=now, updated_at=now,
        )
        patient_key = self.ledger.patient_key(old.event)
        with self.ledger.transaction() as tx:
            # read inside the transaction: a concurrent re-issue has committed or waits
            current = self.ledger.get(issuance_id)
            refusal = requests.reissue_refusal(current, self.ledger.patient_history(patient_key),
                                               now)
            if refusal is not None:
                raise refusal
            head = self.ledger.latest_in_patient(tx, patient_key)
            self.ledger.insert_issuance(
                tx, new, patient_key=patient_key,
                episode_start=head.episode_start if head else self.today(), actor="system",
            )
            self.transitions.notify_after_commit(tx, new, None)
        return self.advance(new.id)

    def reissue_refusal(self, issuance_id: str) -> ConfirmationRefused | None:
        """Why a host should not offer "new code" for this record now (None: it may)."""
        record = self.ledger.get(issuance_id)
        history = self.ledger.patient_history(self.ledger.patient_key(record.event))
        return requests.reissue_refusal(record, history, self.clock())

    def result_corrected(self, correction: ResultCorrection) -> list[IssuanceRecord]:
        """Flag the issuances whose code rested on a result that was corrected or deleted."""
        probe = DiagnosisEvent(
            source=correction.source, patient=correction.patient, evidence=[correction.result]
        )
        flagged: list[IssuanceRecord] = []
        changed = correction.result
        for record in self.ledger.patient_history(self.ledger.patient_key(probe)):
            if not record.state.received_code and record.state not in (S.ISSUING, S.APPROVED):
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
            self.transitions.save(record, expect=record.state)
            self.hooks.issuance_changed(record.model_copy(update={"code": None}), record.state)
            flagged.append(record)
        return flagged

    # -- queues ----------------------------------------------------------------------------

    def pending(self) -> list[ConfirmationRequest]:
        """The requests waiting for a physician (an unreadable one is set aside, not shown)."""
        found = [
            self._guarded(i, lambda i: self.confirmation_request(self.ledger.get(i)))
            for i in self.ledger.ids_in_states(S.AWAITING_CONFIRMATION)
        ]
        return [request for request in found if isinstance(request, ConfirmationRequest)]

    def resume(self) -> list[IssuanceRecord]:
        """Advance every unfinished issuance once (start-up, worker tick, after a crash).

        A row that cannot be read or advanced is set aside (visible in ``prostop status`` and
        ``prostop doctor``, audited) and the others go on: one damaged row never stops the
        recovery of the rest.
        """
        now = self.clock()
        for expired_id in self.ledger.expired_candidates(now):
            self._guarded(expired_id, lambda i: self.writeback.expire_if_due(self.ledger.get(i)))
        # not awaiting_confirmation: those wait for a physician (the pending queue), and
        # asking a host's dialog again at every tick would pester the physician
        ids = self.ledger.claim(  # several workers on one ledger claim different rows
            (S.RECEIVED, S.APPROVED, S.ISSUING, S.ISSUED, S.WRITE_BACK_FAILED), now,
            seconds=_CLAIM_SECONDS,
        )
        try:
            advanced = [self._guarded(i, self.advance) for i in ids]
        finally:
            self.ledger.release(ids)
        return [record for record in advanced if isinstance(record, IssuanceRecord)]

    def _guarded(self, issuance_id: str, step: Callable[[str], object]) -> object:
        try:
            return step(issuance_id)
        except Exception as exc:  # set aside, whatever it is: the others must go on
            reason = exc.one_line() if isinstance(exc, ProstopError) else (
                f"{type(exc).__name__}: {exc}"
            )
            log.error("issuance %s set aside, recovery goes on for the others: %s",
                      issuance_id, reason)
            try:
                with self.ledger.transaction():  # set aside and audited together
                    self.ledger.set_aside(issuance_id, reason)
                    if self.on_set_aside is not None:
                        self.on_set_aside(issuance_id, reason)
            except ProstopError:
                log.exception("could not audit that issuance %s was set aside", issuance_id)
                self.ledger.set_aside(issuance_id, reason)
            return None

    def take_back(self, issuance_id: str) -> None:
        """Recovery considers a set-aside row again (after a restore, or to retry it)."""
        self.ledger.set_aside(issuance_id, None)
