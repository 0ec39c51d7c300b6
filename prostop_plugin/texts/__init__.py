"""Everything the physician and the patient read, in French (default) or English.

One :class:`Texts` class over two catalogs (:mod:`.fr`, :mod:`.en`) with the same keys::

    texts = get_texts("fr")
    texts.summary_line(record)  # "Déclaration StopCovid : code 7H3K9Q remis le 19/11/2020 à 14h32…"

Dates and times are shown in French time (:mod:`.formatting`).
"""

from __future__ import annotations

import enum
import string
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache

from prostop_plugin.models import (
    PROFESSIONS,
    ConfirmationRequest,
    Decision,
    EligibilityDecision,
    IssuanceRecord,
    IssuanceState,
    Locale,
    LocalizedText,
    PatientRef,
    Practitioner,
    PreviousIssuance,
)
from prostop_plugin.texts import en, fr
from prostop_plugin.texts.formatting import format_date, format_datetime

CATALOGS: dict[Locale, Mapping[str, str]] = {"fr": fr.CATALOG, "en": en.CATALOG}
#: the eligibility decision ends its reasons with the date the app will ask (for a reader of
#: the bare decision, e.g. ``prostop check``); the dialog and the note give that date in a line
#: of their own, so these reasons are not repeated there
_DATE_NOTES = ("Date à indiquer dans l'application :", "Date de début des symptômes inconnue :")

__all__ = [
    "CATALOGS",
    "ConfirmationText",
    "Handout",
    "Message",
    "Texts",
    "get_texts",
    "localized",
]


class Message(enum.StrEnum):
    """Messages the engine shows; the placeholders each needs are listed.

    Values that are dates or datetimes are formatted for the locale.
    """

    ISSUE_FAILED = "issue_failed"  #: code service unavailable, retry later
    WRITE_BACK_PENDING = "write_back_pending"  #: code obtained, record write being retried
    WRITE_BACK_FAILED = "write_back_failed"  #: retries exhausted
    TOKEN_DENIED = "token_denied"  #: the physician declined on the e-CPS app
    TOKEN_TIMEOUT = "token_timeout"  #: no approval on the e-CPS app in time
    PROFESSION_NOT_ALLOWED = "profession_not_allowed"  #: {profession}, {allowed}
    TOKEN_UNVERIFIED = "token_unverified"  #: a PSC token failed signature/issuer/client checks
    TOKEN_EXPIRED = "token_expired"  #: a PSC token expired before use
    TOKEN_OTHER_PRACTITIONER = "token_other_practitioner"  #: {holder} — someone else's token
    TOKEN_LEVEL = "token_level"  #: {level}, {required} — authenticated below eidas1
    RESULT_CORRECTED = "result_corrected"  #: {test}, {issued_on} — flag after issuance
    RESULT_DELETED = "result_deleted"  #: {test}, {issued_on} — flag after issuance
    QR_ATTESTATION_MISSING = "qr_attestation_missing"
    RTPCR_ATTESTATION_MISSING = "rtpcr_attestation_missing"
    CODE_STILL_VALID = "code_still_valid"  #: {valid_until}
    CODE_VALIDITY_PASSED = "code_validity_passed"  #: {valid_until} — what is known, no more
    REISSUE_UNUSED_ATTESTATION = "reissue_unused_attestation"  #: the question before a re-issue
    REISSUE_UNUSED_MISSING = "reissue_unused_missing"  #: re-issue asked without that answer
    REISSUE_NOT_LATEST = "reissue_not_latest"  #: a newer code or request exists for the patient
    REISSUE_IN_PROGRESS = "reissue_in_progress"  #: a request for this patient is under way


@dataclass(frozen=True)
class ConfirmationText:
    """The confirmation dialog, ready to show. Optional lines are None when they do not apply."""

    title: str
    lead: str
    decision: str
    reasons_heading: str
    reasons: list[str]
    evidence_heading: str
    evidence: list[str]
    previous_heading: str
    previous_codes: list[str]
    patient_date: str
    qr_attestation: str | None  # mandatory checkbox for a confirmed case
    rtpcr_attestation: str | None  # when no positive RT-PCR is on file
    binding_message: str | None  # None when no code can be asked for (not eligible)
    approve: str
    decline: str
    decline_reason_prompt: str


@dataclass(frozen=True)
class Handout:
    """The sheet given to the patient."""

    title: str
    code: str
    code_grouped: str  # "7H3 K9Q", to read aloud
    validity: str  # "valable jusqu'au 19/11/2020 à 15h32"
    hurry: str
    steps: list[str]
    date_label: str  # the app's words: "date de début des symptômes" / "date du test"
    date_value: str | None
    date_line: str
    single_use: str
    anonymity: str
    practitioner: str

    @property
    def numbered_steps(self) -> list[str]:
        return [f"{n}. {step}" for n, step in enumerate(self.steps, start=1)]


def _placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def _patient_date(record: IssuanceRecord) -> tuple[date | None, str | None]:
    """The onset the physician gave in the dialog, else the decision's reference date."""
    if record.confirmation is not None and record.confirmation.symptom_onset is not None:
        return record.confirmation.symptom_onset, "symptom_onset"
    if record.decision is not None:
        return record.decision.reference_date, record.decision.reference_date_kind
    return None, None


class Texts:
    """The texts of one locale."""

    def __init__(self, locale: Locale) -> None:
        self.locale: Locale = locale
        self.catalog = CATALOGS[locale]

    def text(self, key: str, **values: object) -> str:
        """A catalog entry with its placeholders filled (dates formatted for the locale)."""
        template = self.catalog[key]
        missing = _placeholders(template) - values.keys()
        if missing:
            raise TypeError(f"text {key!r} needs {', '.join(sorted(missing))}")
        return template.format(**{k: self._value(v) for k, v in values.items()})

    def _value(self, value: object) -> object:
        if isinstance(value, datetime):
            return format_datetime(value, self.locale)
        if isinstance(value, date):
            return format_date(value, self.locale)
        return value

    # -- labels ----------------------------------------------------------------------------------

    def state_label(self, state: IssuanceState) -> str:
        return self.text(f"state.{IssuanceState(state).value}")

    def status(self, record: IssuanceRecord) -> str:
        """The state in words; a declined request says it was not given, and why."""
        reason = record.confirmation.decline_reason if record.confirmation is not None \
            and record.state is IssuanceState.DECLINED else None
        if reason and reason.strip():
            return self.text("declined.because", reason=reason.strip().rstrip("."))
        return self.state_label(record.state)

    def decision_label(self, decision: Decision) -> str:
        return self.text(f"decision.{decision}")

    def date_label(self, kind: str | None) -> str:
        """The app's words for the date it asks: symptom onset, or test date."""
        return self.text("date.test_date" if kind == "test_date" else "date.symptom_onset")

    def profession_label(self, code: str | None) -> str:
        names = PROFESSIONS.get(code or "")
        if names is None:
            return f"code {code}" if code else "?"
        return names[0] if self.locale == "fr" else names[1]

    def practitioner_label(self, practitioner: Practitioner | None) -> str:
        if practitioner is None:
            return self.text("practitioner.unknown")
        rpps = practitioner.rpps
        ident = f"RPPS {rpps}" if rpps else f"ADELI {practitioner.national_id[1:]}"
        code = practitioner.profession_code
        # what is not known is left out, never shown as '?' or as the raw national id
        details = f"{self.profession_label(code)}, {ident}" if code else ident
        named = practitioner.given_name or practitioner.family_name
        return f"{practitioner.display_name()} ({details})" if named else details

    def error_text(self, kind: Message, **values: object) -> str:
        """A :class:`Message` in this locale; see each member for the values it needs."""
        return self.text(f"message.{Message(kind).value}", **values)

    # -- confirmation dialog ---------------------------------------------------------------------

    def _patient(self, patient: PatientRef) -> str:
        name = patient.display_name()
        return f"{name} ({format_date(patient.birth_date, self.locale)})" \
            if patient.birth_date else name

    def _reasons(self, decision: EligibilityDecision) -> list[str]:
        return [reason.get(self.locale) for reason in decision.reasons
                if not reason.fr.startswith(_DATE_NOTES)]

    def _previous(self, previous: PreviousIssuance) -> str:
        if previous.state is IssuanceState.EXPIRED:
            status = self.text("previous.expired")
        elif previous.valid_until is None or not previous.state.holds_code:
            status = self.state_label(previous.state)
        else:
            status = self.text("previous.valid_until", valid_until=previous.valid_until)
        if previous.issued_at is None:
            return self.text("previous.request", status=status)
        key = "previous.with_code" if previous.code_last2 else "previous.without_code"
        return self.text(key, issued_on=format_date(previous.issued_at, self.locale),
                         last2=previous.code_last2 or "", status=status)

    def _confirm_date(self, decision: EligibilityDecision) -> str:
        if decision.reference_date is None:
            return self.text("confirm.patient_date_unknown")
        return self.text("confirm.patient_date", what=self.date_label(
            decision.reference_date_kind), date=decision.reference_date)

    def confirmation(self, request: ConfirmationRequest) -> ConfirmationText:
        decision = request.decision
        label = self.decision_label(decision.decision)
        patient = self._patient(request.patient)
        lead = self.text("confirm.lead_not_eligible", patient=patient, decision=label) \
            if decision.decision == "not_eligible" else \
            self.text("confirm.lead", patient=patient, decision=label[:1].upper() + label[1:]
                      if self.locale == "fr" else label)
        return ConfirmationText(
            title=self.text("confirm.title"),
            lead=lead,
            decision=label,
            reasons_heading=self.text("confirm.reasons"),
            reasons=self._reasons(decision),
            evidence_heading=self.text("confirm.evidence"),
            evidence=[used.summary.get(self.locale) for used in decision.evidence],
            previous_heading=self.text("confirm.previous"),
            previous_codes=[self._previous(p) for p in request.previous_issuances],
            patient_date=self._confirm_date(decision),
            qr_attestation=self.text("confirm.qr_attestation")
            if decision.requires_qr_attestation or decision.decision == "confirmed" else None,
            rtpcr_attestation=self.text("confirm.rtpcr_attestation")
            if decision.requires_rtpcr_attestation else None,
            binding_message=self.text("confirm.binding", binding=request.binding_message)
            if request.binding_message else None,
            approve=self.text("confirm.approve"),
            decline=self.text("confirm.decline"),
            decline_reason_prompt=self.text("confirm.decline_prompt"),
        )

    # -- record, summary, handout ----------------------------------------------------------------

    def _decision_of(self, record: IssuanceRecord) -> str:
        return self.decision_label(record.decision.decision) if record.decision else "?"

    def _confirmer(self, record: IssuanceRecord) -> Practitioner | None:
        if record.confirmation is not None:
            return record.confirmation.practitioner
        return record.event.practitioner

    def summary_line(self, record: IssuanceRecord) -> str:
        """One line for the consultation summary, with the code in clear."""
        if record.code is None or record.issued_at is None or record.valid_until is None:
            return self.text("summary.no_code", decision=self._decision_of(record),
                             state=self.status(record))
        return self.text("summary.issued", code=record.code.get_secret_value(),
                         issued_at=record.issued_at, decision=self._decision_of(record),
                         valid_until=record.valid_until)

    def record_note(self, record: IssuanceRecord) -> str:
        """A multi-line note for the patient record."""
        lines = [self.text("note.title")]
        if record.code is not None:
            until = format_datetime(record.valid_until, self.locale) if record.valid_until \
                else "?"
            lines.append(self.text("note.code", code=record.code.get_secret_value(),
                                   valid_until=until))
        if record.issued_at is not None:
            lines.append(self.text("note.issued", issued_at=record.issued_at))
        lines.append(self.text("note.case", decision=self._decision_of(record)))
        if record.decision is not None:
            lines.append(self.text("note.reasons"))
            lines.extend(f"- {reason}" for reason in self._reasons(record.decision))
        day, kind = _patient_date(record)
        lines.append(self.text("note.patient_date", what=self.date_label(kind), date=day)
                     if day else self.text("note.patient_date_unknown"))
        lines.append(self.text("note.confirmed_by",
                               practitioner=self.practitioner_label(self._confirmer(record))))
        if record.confirmation is not None and record.confirmation.qr_unavailable_attested:
            lines.append(self.text("note.qr_attested"))
        if record.confirmation is not None and record.confirmation.rtpcr_positive_attested:
            lines.append(self.text("note.rtpcr_attested"))
        if record.replaces:
            lines.append(self.text("note.replaces"))
        if record.flag is not None:
            lines.append(self.text("note.flag", flag=record.flag.get(self.locale)))
        return "\n".join(lines)

    def pending_notice(self, request: ConfirmationRequest, link: str) -> tuple[str, list[str]]:
        """The record notice of a request waiting for confirmation: its title and lines."""
        label = self.decision_label(request.decision.decision)
        lines = [
            self.text("notice.lead", decision=label[:1].upper() + label[1:]),
            *(f"- {reason}" for reason in self._reasons(request.decision)),
            self.text("notice.link", link=link),
            self.text("notice.login"),
        ]
        return self.text("notice.title"), lines

    def handout(self, record: IssuanceRecord) -> Handout:
        """The patient's sheet. Only for a record that holds its code."""
        if record.code is None or record.valid_until is None:
            raise ValueError(f"issuance {record.id} holds no code to hand out ({record.state})")
        code = record.code.get_secret_value().upper()
        day, kind = _patient_date(record)
        what = self.date_label(kind)
        confirmer = self.practitioner_label(self._confirmer(record))
        issued = record.issued_at or record.valid_from
        return Handout(
            title=self.text("handout.title"),
            code=code,
            code_grouped=f"{code[:3]} {code[3:]}",
            validity=self.text("handout.validity", valid_until=record.valid_until),
            hurry=self.text("handout.hurry"),
            steps=[
                self.text("handout.step.open"),
                self.text("handout.step.declare"),
                self.text("handout.step.code", code=code),
                self.text("handout.step.date", what=what, date=day) if day
                else self.text("handout.step.date_unknown"),
            ],
            date_label=what,
            date_value=format_date(day, self.locale) if day else None,
            date_line=self.text("handout.date", what=what[:1].upper() + what[1:], date=day)
            if day else self.text("handout.date_unknown"),
            single_use=self.text("handout.single_use"),
            anonymity=self.text("handout.anonymity"),
            practitioner=self.text("handout.practitioner", practitioner=confirmer,
                                   issued_at=issued) if issued else confirmer,
        )


@cache
def get_texts(locale: Locale = "fr") -> Texts:
    """The texts of a locale: ``"fr"`` (default) or ``"en"``."""
    if locale not in CATALOGS:
        raise ValueError(f"unknown locale {locale!r}: expected 'fr' or 'en'")
    return Texts(locale)


def localized(kind: Message, **values: object) -> LocalizedText:
    """A message in both languages, e.g. for ``IssuanceRecord.error`` or ``.flag``."""
    return LocalizedText(fr=get_texts("fr").error_text(kind, **values),
                         en=get_texts("en").error_text(kind, **values))
