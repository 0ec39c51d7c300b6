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
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from prostop_plugin import eligibility
from prostop_plugin.config import Settings
from prostop_plugin.errors import (
    ConfirmationRefused,
    InvalidTransition,
    IssuerError,
    ProstopError,
    TokenError,
)
from prostop_plugin.events import (
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
    LocalizedText,
    PatientRef,
    Practitioner,
    PreviousIssuance,
    ResultCorrection,
    WriteBackReceipt,
    utcnow,
)
from prostop_plugin.hooks import hookimpl
from prostop_plugin.issuers import CodeIssuer
from prostop_plugin.ledger import Ledger
from prostop_plugin.plugins import HookFacade
from prostop_plugin.psc import check_token, new_binding_message
from prostop_plugin.secrets import code_fingerprint
from prostop_plugin.texts import Message, localized

log = logging.getLogger(__name__)

S = IssuanceState
PARIS = ZoneInfo("Europe/Paris")
#: states in which a new event for the same episode starts a new issuance instead of joining
_REOPENING_STATES = (S.NOT_ELIGIBLE, S.DECLINED)
#: states in which a record holds a code (for "codes this patient received before")
_WITH_CODE = (S.ISSUED, S.WRITTEN_BACK, S.WRITE_BACK_FAILED, S.EXPIRED)
_MAX_STEPS = 12


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


def _failure_text(exc: BaseException) -> LocalizedText:
    """The physician reads plain French; the English side keeps the technical detail."""
    if isinstance(exc, TokenError):
        return LocalizedText(
            fr="L'authentification Pro Santé Connect n'a pas abouti (demande refusée, expirée "
            "ou non validée sur l'application e-CPS, ou carte CPS absente) : aucun code n'a "
            "été demandé. Vous pouvez réessayer.",
            en=f"Pro Santé Connect authentication failed: {exc.what}",
        )
    if isinstance(exc, IssuerError):
        retry_fr = " Réessayez dans quelques minutes." if exc.retryable else (
            " Prévenez votre informaticien si cela se reproduit."
        )
        retry_en = " You may retry." if exc.retryable else ""
        return LocalizedText(
            fr="Le service ProStopCovid n'a pas délivré de code." + retry_fr,
            en=f"The ProStopCovid service issued no code: {exc.what}.{retry_en}",
        )
    return LocalizedText(
        fr=f"Erreur inattendue pendant la demande de code ({type(exc).__name__}). "
        "Vous pouvez réessayer ; si cela persiste, prévenez votre informaticien.",
        en=f"Unexpected error while requesting the code ({type(exc).__name__}). "
        "You may retry; if it persists, tell your IT administrator.",
    )


class IssuanceEngine:
    """Drives issuances through the state machine; the built-in plugin delegates to it."""

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

    def _issuing_lease(self) -> float:
        cs, psc = self.settings.code_service, self.settings.psc
        per_attempt = cs.connect_timeout + cs.read_timeout + cs.backoff_max
        return psc.ciba_timeout + psc.connect_timeout + psc.read_timeout + cs.max_attempts * (
            per_attempt
        ) + 30.0

    def _write_back_lease(self) -> float:
        return 300.0

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

    # -- events in -------------------------------------------------------------------------

    def record_event(self, event: DiagnosisEvent) -> IssuanceRecord:
        """Store the event durably, then advance its issuance as far as it goes unattended."""
        record, _ = self.ingest(event)
        if record.state in (S.RECEIVED, S.AWAITING_CONFIRMATION):
            # new, or a resend after we crashed before deciding: carry on from the ledger
            return self.advance(record.id)
        return record

    def ingest(self, event: DiagnosisEvent) -> tuple[IssuanceRecord, bool]:
        """Durably store the event and attach it to an issuance. Returns (record, created).

        The same event twice (same dedupe key) returns the record it joined the first time.
        An event for a patient whose current episode already has a live issuance joins it:
        one code per episode. Safe under concurrent calls (one write transaction at a time).
        """
        patient_key = self.ledger.patient_key(event)
        today = self.today()
        window = self.policy.episode_window_days
        created: IssuanceRecord | None = None
        with self.ledger.transaction() as conn:
            joined = self.ledger.issuance_for_event(conn, event)
            if joined is None:
                latest = self.ledger.latest_in_patient(conn, patient_key)
                in_episode = latest is not None and (today - latest[2]).days <= window
                if latest is not None and in_episode and latest[3] not in _REOPENING_STATES:
                    joined = latest[0]
                    self.ledger.insert_event(conn, event, joined)
                else:
                    if latest is not None and in_episode:
                        episode, start = latest[1], latest[2]
                    else:
                        episode, start = self.ledger.episode_key(patient_key, today), today
                    now = self.clock()
                    created = IssuanceRecord(
                        id=new_issuance_id(), episode=episode, state=S.RECEIVED, event=event,
                        created_at=now, updated_at=now,
                    )
                    self.ledger.insert_issuance(
                        conn, created, patient_key=patient_key, episode_start=start,
                        actor=event.source.adapter,
                    )
                    self.ledger.insert_event(conn, event, created.id)
        if created is not None:
            self._notify(created, None)
            return created, True
        assert joined is not None
        return self.ledger.get(joined), False

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
            return True
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
            if self._expire_if_due(record):
                return False
            entry = self.ledger.outbox_entry(record.id)
            if entry is None or entry.status != "pending" or entry.next_attempt_at > self.clock():
                return False
            return self._write_back(record)
        if state == S.WRITTEN_BACK:
            self._expire_if_due(record)
        return False

    def episode_evidence(self, record: IssuanceRecord) -> list[Evidence]:
        return _merge_evidence(self.ledger.episode_events(record.episode))

    def evaluate(self, record: IssuanceRecord) -> EligibilityDecision:
        return eligibility.evaluate(self.episode_evidence(record), self.policy, self.today())

    def _evaluate(self, record: IssuanceRecord) -> None:
        decision = self.evaluate(record)
        record.decision = decision
        if decision.decision == "not_eligible":
            record.state = S.NOT_ELIGIBLE
        else:
            record.state = S.AWAITING_CONFIRMATION
            record.binding_message = new_binding_message()
        self._save(record, expect=S.RECEIVED)

    def confirmation_request(self, record: IssuanceRecord) -> ConfirmationRequest:
        assert record.decision is not None
        return ConfirmationRequest(
            issuance_id=record.id,
            patient=record.event.patient,
            practitioner=record.event.practitioner,
            decision=record.decision,
            previous_issuances=self.previous_issuances(record),
            binding_message=record.binding_message,
            locale=record.event.locale,
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

    def _ask_host(self, record: IssuanceRecord) -> bool:
        refreshed = self.evaluate(record)
        if refreshed != record.decision:  # new evidence joined the episode meanwhile
            record.decision = refreshed
            if refreshed.decision == "not_eligible":
                record.state = S.NOT_ELIGIBLE
            self._save(record, expect=S.AWAITING_CONFIRMATION)
            if record.state == S.NOT_ELIGIBLE:
                return False
        answer = self.hooks.confirm_issuance(self.confirmation_request(record))
        if answer is None:
            return False  # no UI channel: waits in the pending queue
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
        self._check_decision(record.decision, decision)
        record.confirmation = decision
        record.state = S.APPROVED if decision.approved else S.DECLINED
        self._save(
            record, expect=S.AWAITING_CONFIRMATION, actor=decision.practitioner.national_id
        )
        return self.advance(issuance_id) if advance else record

    def _check_decision(self, eligible: EligibilityDecision, answer: ConfirmationDecision) -> None:
        who = answer.practitioner
        if not answer.approved:
            if not (answer.decline_reason or "").strip():
                raise ConfirmationRefused(
                    "a decline needs a reason", fr="Indiquez la raison du refus.",
                    fix="give --reason",
                )
            return
        allowed = self.policy.allowed_professions
        if who.profession_code is not None and who.profession_code not in allowed:
            raise ConfirmationRefused(
                f"profession {who.profession_code} may not issue declaration codes",
                fr="Seuls les médecins et infirmiers peuvent remettre un code de déclaration.",
            )
        if eligible.decision == "not_eligible":
            raise ConfirmationRefused(
                "this case is not eligible", fr="Ce cas n'est pas éligible à un code."
            )
        if eligible.requires_qr_attestation and not answer.qr_unavailable_attested:
            raise ConfirmationRefused(
                "a confirmed case needs the attestation that the SI-DEP QR code is unavailable "
                "and will not be used by anyone else",
                fr=localized(Message.QR_ATTESTATION_MISSING).fr,
                fix="approve with --attest-qr-unavailable after checking with the patient",
            )
        if eligible.requires_rtpcr_attestation and not answer.rtpcr_positive_attested:
            raise ConfirmationRefused(
                "no positive RT-PCR is on file: the physician must attest one",
                fr=localized(Message.RTPCR_ATTESTATION_MISSING).fr,
                fix="approve with --attest-rtpcr-positive",
            )
        onset = answer.symptom_onset
        if onset is not None and onset > self.today():
            raise ConfirmationRefused(
                "the symptom onset date is in the future",
                fr="La date de début des symptômes est dans le futur.",
            )

    def _token(self, practitioner: Practitioner, binding_message: str) -> AccessToken:
        token = self.hooks.practitioner_token(practitioner, binding_message)
        if token is None:
            raise TokenError(
                "no Pro Santé Connect token source answered for this practitioner",
                fix="log in with the CPS card / e-CPS in the host, or configure [psc]",
            )
        check_token(
            token, practitioner, allowed_professions=self.policy.allowed_professions,
            required_acr=self.settings.psc.acr_values.split()[0], now=self.clock(),
        )
        return token

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

    def _issue(self, record: IssuanceRecord) -> None:
        assert record.confirmation is not None and record.binding_message is not None
        expected = record.state
        record.state = S.ISSUING
        record.error = None
        self._save(
            record, expect=expected, actor=record.confirmation.practitioner.national_id,
            lease=self._issuing_lease(),
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
            record.error = _failure_text(exc)
            self._save(record, expect=S.ISSUING)
            return
        code = issued.code.get_secret_value()
        record.code = issued.code
        record.code_digest, record.code_last2 = code_fingerprint(self.ledger.keyring, code)
        record.valid_from, record.valid_until = issued.valid_from, issued.valid_until
        record.issued_at = issued.generated_at or self.clock()
        record.state = S.ISSUED
        with self.ledger.transaction() as conn:
            previous = self.ledger.save(
                conn, record, expect=S.ISSUING, actor="system", now=self.clock()
            )
            self.ledger.schedule_write_back(conn, record.id, at=self.clock())
        self._notify(record, previous)

    def _write_back(self, record: IssuanceRecord) -> bool:
        entry = self.ledger.outbox_entry(record.id)
        attempts = (entry.attempts if entry else 0) + 1
        expected = record.state
        self._save(record, expect=expected, lease=self._write_back_lease())
        with_code = self.ledger.get(record.id, with_code=True)
        receipt: WriteBackReceipt | None = None
        problem = "no adapter took this write-back"
        try:
            receipt = self.hooks.write_back(with_code)
        except Exception as exc:
            problem = f"{type(exc).__name__}: {exc}"
            log.warning(
                "issuance %s: write-back attempt %d failed: %s", record.id, attempts, problem
            )
        now = self.clock()
        if receipt is not None:
            record.state = S.WRITTEN_BACK
            record.receipts.append(receipt)
            record.error = None
            status, next_at, error = "done", now, None
        else:
            cfg = self.settings.write_back
            delay = min(cfg.backoff_max, cfg.backoff_initial * (2 ** (attempts - 1)))
            exhausted = attempts >= cfg.max_attempts
            status, next_at, error = ("failed" if exhausted else "pending"), (
                now + timedelta(seconds=delay)
            ), problem
            record.state = S.WRITE_BACK_FAILED
            message = localized(
                Message.WRITE_BACK_FAILED if exhausted else Message.WRITE_BACK_PENDING
            )
            record.error = LocalizedText(
                fr=f"{message.fr} ({problem})", en=f"{message.en} ({problem})"
            )
        with self.ledger.transaction() as conn:
            previous = self.ledger.save(conn, record, expect=expected, actor="system", now=now)
            self.ledger.schedule_write_back(
                conn, record.id, at=next_at, attempts=attempts, error=error, status=status
            )
        self._notify(record, previous)
        return receipt is not None

    def _expire_if_due(self, record: IssuanceRecord) -> bool:
        if record.valid_until is None or record.valid_until > self.clock():
            return False
        expected = record.state
        record.state = S.EXPIRED
        with self.ledger.transaction() as conn:
            previous = self.ledger.save(conn, record, expect=expected, actor="system",
                                        now=self.clock())
            entry = self.ledger.outbox_entry(record.id)
            if entry is not None and entry.status == "pending":
                self.ledger.schedule_write_back(
                    conn, record.id, at=entry.next_attempt_at, attempts=entry.attempts,
                    error="code expired before it could be written back", status="expired",
                )
        self._notify(record, previous)
        return True

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


class IssuancePlugin:
    """The built-in plugin answering the event hooks with the engine."""

    def __init__(self, engine: IssuanceEngine) -> None:
        self.engine = engine

    @hookimpl
    def prostop_diagnosis_recorded(self, event: DiagnosisEvent) -> IssuanceRecord:
        return self.engine.record_event(event)

    @hookimpl
    def prostop_result_corrected(self, correction: ResultCorrection) -> None:
        self.engine.result_corrected(correction)
