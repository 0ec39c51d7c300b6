"""What the screens show about an issuance: the code card and the confirmation dialog.

One set of view models for every host that shows them (the console, the demo EHR), built from
the plugin's own objects (``engine.confirmation_request``, ``texts.confirmation``,
``texts.summary_line``) so that the words are the plugin's, in the physician's language.

``here`` names the adapter whose screen shows the card (the demo EHR: ``demo_ehr``): a code its
own write-back took is "in this record", one another adapter delivered is "delivered
elsewhere", and its own events are named in its words. Without it (the console, which is no
record), a code written back is in the patient's record, wherever that is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from prostop_plugin.errors import InvalidTransition, IssuanceNotFound
from prostop_plugin.models import ConfirmationRequest, IssuanceRecord, IssuanceState, Locale
from prostop_plugin.texts import ConfirmationText, Message, get_texts
from prostop_plugin.texts.formatting import format_date, format_datetime
from prostop_plugin.texts.screens import screen_text

if TYPE_CHECKING:
    from prostop_plugin.app import Prostop

S = IssuanceState
IN_PROGRESS = (S.RECEIVED, S.APPROVED, S.ISSUING)
#: a placeholder for not-eligible records, which have no binding message; never shown
_NO_BINDING = "00"
#: the file formats, as a physician knows them
FORMAT_NAMES = {"hl7v2": "HL7 v2", "hprim": "HPRIM", "cda": "CDA", "json": "JSON"}
#: the channels with a name in words; another adapter is named as installed
CHANNELS = ("filedrop", "hl7v2_mllp")


def group_code(code: str) -> str:
    """``7H3K9Q`` → ``7H3 K9Q``: read aloud in two halves."""
    return f"{code[:3]} {code[3:]}"


def current_record(runtime: Prostop, record: IssuanceRecord) -> IssuanceRecord:
    """The record as of now: a code past its validity is marked expired on sight."""
    if record.state.holds_code and record.valid_until is not None \
            and record.valid_until <= runtime.engine.clock():
        try:
            return runtime.engine.advance(record.id)
        except InvalidTransition:
            return runtime.ledger.get(record.id)
    return record


def source_label(record: IssuanceRecord, locale: Locale = "fr", here: str | None = None) -> str:
    """Where the request came from, in words: "saisie en consultation", "fichier importé —
    LABO-DEMO (HL7 v2)", "dépôt de fichiers — LABO-GARONNE (HPRIM)"."""
    source = record.event.source
    if source.adapter == here and source.format == "ui":
        return screen_text(locale, "source.ui")
    if source.adapter == here:
        channel = screen_text(locale, "source.here")
    elif source.adapter in CHANNELS:
        channel = screen_text(locale, f"source.{source.adapter}")
    else:
        channel = screen_text(locale, "source.other", adapter=source.adapter)
    fmt = FORMAT_NAMES.get(source.format or "", (source.format or "").upper())
    return f"{channel} — {source.host}" + (f" ({fmt})" if fmt else "")


def replaces_text(runtime: Prostop, record: IssuanceRecord, locale: Locale) -> str | None:
    """What a new code replaces, as the physician knew it: the earlier code's day and end."""
    if not record.replaces:
        return None
    try:
        previous = runtime.ledger.get(record.replaces)
    except IssuanceNotFound:
        return screen_text(locale, "code.replaces_request")
    if previous.issued_at is None:
        return screen_text(locale, "code.replaces_request")
    issued = format_datetime(previous.issued_at, locale)
    if previous.code_last2:
        return screen_text(locale, "code.replaces", issued=issued, last2=previous.code_last2)
    return screen_text(locale, "code.replaces_no_end", issued=issued)


@dataclass(frozen=True)
class CodeCard:
    """One issuance as the record, the consultation and the console show it."""

    id: str
    state: IssuanceState
    state_label: str
    decision_label: str
    source: str
    created_on: str
    code: str | None = None
    code_grouped: str | None = None
    valid_until_text: str | None = None
    valid_until_iso: str | None = None
    summary_line: str | None = None
    error: str | None = None
    flag: str | None = None
    binding_message: str | None = None
    #: the code is in the record (``here``'s own write-back took it; without ``here``: written)
    written_back: bool = False
    #: where another adapter delivered it instead (a file to import, an HL7 message)
    delivered_elsewhere: tuple[str, ...] = ()
    replaces: str | None = None
    #: an expired code: what is known of it, and why no new code may replace it (None: may)
    validity_passed: str | None = None
    reissue_refusal: str | None = None
    patient: str = ""

    @property
    def in_progress(self) -> bool:
        return self.state in IN_PROGRESS

    @property
    def has_code(self) -> bool:
        return self.code is not None

    @property
    def can_retry(self) -> bool:
        return self.state in (S.ISSUE_FAILED, S.WRITE_BACK_FAILED)

    @property
    def can_reissue(self) -> bool:
        return self.state == S.EXPIRED and self.reissue_refusal is None

    @property
    def needs_decision(self) -> bool:
        return self.state in (S.AWAITING_CONFIRMATION, S.NOT_ELIGIBLE)


def code_card(runtime: Prostop, record: IssuanceRecord, locale: Locale,
              here: str | None = None) -> CodeCard:
    """The card of ``record`` as of now (an expired code is marked so on sight)."""
    texts = get_texts(locale)
    record = current_record(runtime, record)
    if record.state.holds_code:
        record = runtime.ledger.get(record.id, with_code=True)
    code = record.code.get_secret_value().upper() if record.code is not None else None
    expired = record.state == S.EXPIRED
    refusal = runtime.engine.reissue_refusal(record.id) if expired else None
    elsewhere: tuple[str, ...] = ()
    if here is None:
        written_back = record.state == S.WRITTEN_BACK
    else:
        written_back = any(r.adapter == here for r in record.receipts)
        elsewhere = tuple(f"{r.adapter} : {r.detail or r.target}" for r in record.receipts
                          if r.adapter != here)
    return CodeCard(
        id=record.id, state=record.state, state_label=texts.status(record),
        decision_label=texts.decision_label(record.decision.decision) if record.decision else "",
        source=source_label(record, locale, here),
        created_on=format_datetime(record.created_at, locale),
        code=code, code_grouped=group_code(code) if code else None,
        valid_until_text=format_datetime(record.valid_until, locale)
        if record.valid_until else None,
        valid_until_iso=record.valid_until.isoformat() if record.valid_until else None,
        summary_line=texts.summary_line(record) if code else None,
        error=record.error.get(locale) if record.error else None,
        flag=record.flag.get(locale) if record.flag else None,
        binding_message=record.binding_message,
        written_back=written_back, delivered_elsewhere=elsewhere,
        replaces=replaces_text(runtime, record, locale),
        patient=record.event.patient.display_name(),
        validity_passed=texts.error_text(Message.CODE_VALIDITY_PASSED,
                                         valid_until=record.valid_until)
        if expired and record.valid_until else None,
        reissue_refusal=(refusal.fr if locale == "fr" else refusal.en) if refusal else None,
    )


@dataclass(frozen=True)
class Dialog:
    """The confirmation dialog (or, for a not-eligible case, the explanation without buttons)."""

    issuance_id: str
    eligible: bool
    text: ConfirmationText
    source: str
    onset_default: date | None
    today: date
    binding: str | None = None
    refusal: str | None = None

    @property
    def today_iso(self) -> str:
        return self.today.isoformat()


def not_eligible_request(runtime: Prostop, record: IssuanceRecord) -> ConfirmationRequest:
    """``engine.confirmation_request`` needs a binding message, which a not-eligible record
    never gets; the texts only need it for the approve part, which is not shown."""
    assert record.decision is not None
    return ConfirmationRequest(
        issuance_id=record.id, source=record.event.source, patient=record.event.patient,
        practitioner=record.event.practitioner, decision=record.decision,
        previous_issuances=runtime.engine.previous_issuances(record),
        binding_message=_NO_BINDING, locale=record.locale,
    )


def dialog_for(runtime: Prostop, record: IssuanceRecord, locale: Locale,
               refusal: str | None = None, here: str | None = None) -> Dialog | None:
    """The dialog for a record waiting for a decision, or explaining why there is no code."""
    if record.decision is None:
        return None
    if record.state == S.AWAITING_CONFIRMATION:
        request = runtime.engine.confirmation_request(record)
    elif record.state == S.NOT_ELIGIBLE:
        request = not_eligible_request(runtime, record)
    else:
        return None
    decision = record.decision
    onset = decision.reference_date if decision.reference_date_kind == "symptom_onset" else None
    return Dialog(
        issuance_id=record.id, eligible=record.state == S.AWAITING_CONFIRMATION,
        text=get_texts(locale).confirmation(request), source=source_label(record, locale, here),
        onset_default=onset, today=runtime.engine.today(), refusal=refusal,
        binding=record.binding_message if record.state == S.AWAITING_CONFIRMATION else None,
    )


def still_valid_notice(record: IssuanceRecord, locale: Locale) -> str | None:
    """When a new event joined an episode whose code is still valid: give that one again."""
    if record.state.holds_code and record.valid_until is not None:
        return get_texts(locale).error_text(Message.CODE_STILL_VALID,
                                            valid_until=record.valid_until)
    return None


def day_text(day: date, locale: Locale) -> str:
    return format_date(day, locale)
