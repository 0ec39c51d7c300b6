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

The engine is one class built in layers, each module importing only those before it:
:mod:`~prostop_plugin.issuance_base` (settings, saving a step, the reads),
:mod:`~prostop_plugin.issuance_writeback` (write-back and expiry),
:mod:`~prostop_plugin.issuance_actions` (retry, re-issue, corrections, the queues) and this
module (events in, the state machine, the confirmation and the code itself).
"""

from __future__ import annotations

import logging

from prostop_plugin.errors import (
    ConfirmationRefused,
    InvalidTransition,
    IssuerError,
    ProstopError,
    TokenError,
    TokenRefused,
)
from prostop_plugin.events import (
    AccessToken,
    ConfirmationDecision,
    DiagnosisEvent,
    EligibilityDecision,
    IssuanceRecord,
    LocalizedText,
    Practitioner,
    ResultCorrection,
)
from prostop_plugin.hooks import hookimpl
from prostop_plugin.issuance_actions import IssuanceActions
from prostop_plugin.issuance_base import PARIS, S, new_issuance_id
from prostop_plugin.psc import first_verified_token, new_binding_message
from prostop_plugin.secrets import code_fingerprint
from prostop_plugin.texts import Message, localized

__all__ = ["PARIS", "IssuanceEngine", "IssuancePlugin", "new_issuance_id"]

# the flow's one logger, whichever file a step lives in (log lines name it)
log = logging.getLogger("prostop_plugin.issuance")

#: states in which a new event for the same episode starts a new issuance instead of joining
_REOPENING_STATES = (S.NOT_ELIGIBLE, S.DECLINED)
_MAX_STEPS = 12


def _failure_text(exc: BaseException) -> LocalizedText:
    """The physician reads plain French; the English side keeps the technical detail."""
    if isinstance(exc, TokenRefused):
        return LocalizedText(fr=exc.fr, en=f"{exc.en} ({exc.what})")
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


class IssuanceEngine(IssuanceActions):
    """Drives issuances through the state machine; the built-in plugin delegates to it."""

    def _issuing_lease(self) -> float:
        cs, psc = self.settings.code_service, self.settings.psc
        per_attempt = cs.connect_timeout + cs.read_timeout + cs.backoff_max
        return psc.ciba_timeout + psc.connect_timeout + psc.read_timeout + cs.max_attempts * (
            per_attempt
        ) + 30.0

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
        if event.locale is None:  # readers don't know the installation's language; we do
            event = event.model_copy(update={"locale": self.settings.locale})
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

    def _evaluate(self, record: IssuanceRecord) -> None:
        decision = self.evaluate(record)
        record.decision = decision
        if decision.decision == "not_eligible":
            record.state = S.NOT_ELIGIBLE
        else:
            record.state = S.AWAITING_CONFIRMATION
            record.binding_message = new_binding_message()
        self._save(record, expect=S.RECEIVED)

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
