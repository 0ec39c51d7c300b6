"""What the flow computes from a record, without touching the ledger or the network.

The requests it sends out (to the host's dialog, to the code service), the episode's evidence,
the checks on a physician's decision and the text a physician reads when no code came.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from datetime import date, datetime

from prostop_plugin.config import Settings
from prostop_plugin.errors import ConfirmationRefused, IssuerError, TokenError, TokenRefused
from prostop_plugin.models import (
    CodeRequest,
    ConfirmationDecision,
    ConfirmationRequest,
    DiagnosisEvent,
    EligibilityDecision,
    Evidence,
    IssuanceRecord,
    IssuanceState,
    LocalizedText,
    PreviousIssuance,
)
from prostop_plugin.psc import new_binding_message
from prostop_plugin.texts import Message, localized


def new_issuance_id() -> str:
    return secrets.token_hex(6)


def apply_decision(record: IssuanceRecord, decision: EligibilityDecision) -> None:
    """A received issuance once evaluated: not eligible, or waiting for a physician (with the
    binding message its PSC request will show)."""
    record.decision = decision
    if decision.decision == "not_eligible":
        record.state = IssuanceState.NOT_ELIGIBLE
    else:
        record.state = IssuanceState.AWAITING_CONFIRMATION
        record.binding_message = new_binding_message()


def merge_evidence(events: Sequence[DiagnosisEvent]) -> list[Evidence]:
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


def previous_issuances(
    record: IssuanceRecord, history: Iterable[IssuanceRecord]
) -> list[PreviousIssuance]:
    """The patient's other issuances a physician must see before confirming this one."""
    return [
        PreviousIssuance(
            issuance_id=h.id, state=h.state, issued_at=h.issued_at,
            valid_until=h.valid_until, code_last2=h.code_last2,
        )
        for h in history
        if h.id != record.id and (h.state.received_code or h.state == IssuanceState.DECLINED)
    ]


def confirmation_request(
    record: IssuanceRecord, previous: list[PreviousIssuance]
) -> ConfirmationRequest:
    assert record.decision is not None
    return ConfirmationRequest(
        issuance_id=record.id,
        source=record.event.source,
        patient=record.event.patient,
        practitioner=record.event.practitioner,
        decision=record.decision,
        previous_issuances=previous,
        binding_message=record.binding_message,
        locale=record.locale,
    )


def code_request(record: IssuanceRecord) -> CodeRequest:
    """What the code service is told: the case's kind and dates, never who the patient is."""
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


def check_decision(
    eligible: EligibilityDecision, answer: ConfirmationDecision, *,
    allowed_professions: Iterable[str], today: date,
) -> None:
    """Refuse a decision the physician cannot take as given.

    :raises ConfirmationRefused: approval without a mandatory attestation, a profession
        not allowed to issue codes, a decline without a reason.
    """
    who = answer.practitioner
    if not answer.approved:
        if not (answer.decline_reason or "").strip():
            raise ConfirmationRefused(
                "a decline needs a reason", fr="Indiquez la raison du refus.",
                en="Give the reason for declining.",
                fix="give --reason",
            )
        return
    if who.profession_code is not None and who.profession_code not in allowed_professions:
        raise ConfirmationRefused(
            f"profession {who.profession_code} may not issue declaration codes",
            fr="Seuls les médecins et infirmiers peuvent remettre un code de déclaration.",
            en="Only physicians and nurses may give a declaration code.",
        )
    if eligible.decision == "not_eligible":
        raise ConfirmationRefused(
            "this case is not eligible", fr="Ce cas n'est pas éligible à un code.",
            en="This case is not eligible for a code.",
        )
    if eligible.requires_qr_attestation and not answer.qr_unavailable_attested:
        raise ConfirmationRefused(
            "a confirmed case needs the attestation that the SI-DEP QR code is unavailable "
            "and will not be used by anyone else",
            fr=localized(Message.QR_ATTESTATION_MISSING).fr,
            en=localized(Message.QR_ATTESTATION_MISSING).en,
            fix="approve with --attest-qr-unavailable after checking with the patient",
        )
    if eligible.requires_rtpcr_attestation and not answer.rtpcr_positive_attested:
        raise ConfirmationRefused(
            "no positive RT-PCR is on file: the physician must attest one",
            fr=localized(Message.RTPCR_ATTESTATION_MISSING).fr,
            en=localized(Message.RTPCR_ATTESTATION_MISSING).en,
            fix="approve with --attest-rtpcr-positive",
        )
    onset = answer.symptom_onset
    if onset is not None and onset > today:
        raise ConfirmationRefused(
            "the symptom onset date is in the future",
            fr="La date de début des symptômes est dans le futur.",
            en="The symptom onset date is in the future.",
        )


def issuing_lease(settings: Settings) -> float:
    """How long a process may hold ``issuing``: the PSC wait plus every code-service attempt."""
    cs, psc = settings.code_service, settings.psc
    per_attempt = cs.connect_timeout + cs.read_timeout + cs.backoff_max
    return psc.ciba_timeout + psc.connect_timeout + psc.read_timeout + cs.max_attempts * (
        per_attempt
    ) + 30.0


def failure_text(exc: BaseException) -> LocalizedText:
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


#: a request for the patient is under way: no re-issue beside it
_UNDER_WAY = frozenset({
    IssuanceState.RECEIVED, IssuanceState.AWAITING_CONFIRMATION, IssuanceState.APPROVED,
    IssuanceState.ISSUING, IssuanceState.ISSUE_FAILED,
})
#: states of a re-issue that leave the expired code open to another attempt
_NOTHING_CAME_OF_IT = frozenset({IssuanceState.DECLINED, IssuanceState.NOT_ELIGIBLE})


def reissue_refusal(
    expired: IssuanceRecord, history: Sequence[IssuanceRecord], now: datetime,
) -> ConfirmationRefused | None:
    """Why no new code may replace ``expired`` now, or None when one may.

    One valid code per patient: while a code of theirs is valid, none; a re-issue belongs to
    the patient's latest expired code only, once (a declined or not-eligible re-issue leaves
    it open); never beside a request under way. ``history`` is the patient's, oldest first.
    """
    if expired.state != IssuanceState.EXPIRED:
        return ConfirmationRefused(
            f"only an expired code can be re-issued; this one is '{expired.state.value}'",
            fr=localized(Message.REISSUE_NOT_LATEST).fr,
            en=localized(Message.REISSUE_NOT_LATEST).en,
        )
    others = [h for h in history if h.id != expired.id]
    for other in others:
        if other.state.holds_code and other.valid_until is not None and other.valid_until > now:
            text = localized(Message.CODE_STILL_VALID, valid_until=other.valid_until)
            return ConfirmationRefused(
                f"a code of this patient is still valid until {other.valid_until:%Y-%m-%d %H:%M}"
                " UTC", fr=text.fr, en=text.en,
            )
    if any(o.state in _UNDER_WAY for o in others):
        text = localized(Message.REISSUE_IN_PROGRESS)
        return ConfirmationRefused("a code request for this patient is under way",
                                   fr=text.fr, en=text.en)
    newer_with_code = [
        o for o in others if o.state.received_code and o.created_at > expired.created_at
    ]
    replaced = [o for o in others if o.replaces == expired.id
                and o.state not in _NOTHING_CAME_OF_IT]
    if newer_with_code or replaced:
        text = localized(Message.REISSUE_NOT_LATEST)
        return ConfirmationRefused(
            "this code was already replaced, or a newer code exists for this patient",
            fr=text.fr, en=text.en,
        )
    return None
