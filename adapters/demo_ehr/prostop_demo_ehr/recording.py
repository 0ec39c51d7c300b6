"""What the EHR tells the plugin: a diagnosis, clinical signs and a chest-CT attestation from
the consultation screen, or lab results from an imported file.

This is the part a vendor writes: transcribe the host's own data into
:class:`~prostop_plugin.models.DiagnosisEvent` (source adapter ``demo_ehr``) and fire
``runtime.hooks.diagnosis_recorded(event)``.
"""

from __future__ import annotations

import secrets
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from prostop_demo_ehr.catalog import CIM10_BY_CODE, ui_text
from prostop_demo_ehr.settings import ADAPTER_NAME
from prostop_demo_ehr.store import Patient
from prostop_plugin import (
    MAX_FILE_BYTES,
    PARIS,
    Coding,
    DiagnosisEvent,
    DiagnosisEvidence,
    DiagnosisStatus,
    EventSource,
    Evidence,
    ImagingFinding,
    Locale,
    PatientRef,
    Practitioner,
    SymptomEvidence,
    format_date,
    read_bytes,
    sniff_format,
)

CT_EXAM = Coding(code="24627-2", system="LN", display="Scanner thoracique")
GROUND_GLASS = Coding(code="1217294009", system="SCT", display="opacités en verre dépoli")


@dataclass(frozen=True)
class ConsultationEntry:
    """What the physician filled in on the consultation screen."""

    diagnosis_code: str | None = None
    diagnosis_status: DiagnosisStatus = "final"
    signs_present: bool = False
    onset: date | None = None
    signs_text: str | None = None
    ct_suggestive: bool = False
    ct_finding: str = "ground_glass"
    ct_date: date | None = None

    def is_empty(self) -> bool:
        return not (self.diagnosis_code or self.signs_present or self.ct_suggestive)

    def concerns_covid(self) -> bool:
        """Whether the plugin should hear about it: a COVID-19 code or a suggestive chest CT.

        Signs alone, or another diagnosis, stay in the EHR.
        """
        code = CIM10_BY_CODE.get(self.diagnosis_code or "")
        return (code is not None and code.covid) or self.ct_suggestive


def _at_noon(day: date) -> datetime:
    return datetime.combine(day, time(12, 0), tzinfo=PARIS).astimezone(UTC)


def entry_evidence(entry: ConsultationEntry, now: datetime) -> list[Evidence]:
    evidence: list[Evidence] = []
    if entry.diagnosis_code:
        code = CIM10_BY_CODE[entry.diagnosis_code]
        evidence.append(DiagnosisEvidence(
            code=Coding(code=code.code, system="I10", display=code.fr),
            status=entry.diagnosis_status, recorded_at=now, source_ref="consultation/diagnostic",
        ))
    if entry.signs_present:
        evidence.append(SymptomEvidence(
            present=True, onset_date=entry.onset, description=entry.signs_text or None,
            source_ref="consultation/signes",
        ))
    if entry.ct_suggestive:
        ggo = entry.ct_finding == "ground_glass"
        evidence.append(ImagingFinding(
            exam=CT_EXAM, finding=GROUND_GLASS if ggo else None, suggestive_of_covid=True,
            text=None,  # the finding says it all; a report text would go here
            observed_at=_at_noon(entry.ct_date) if entry.ct_date else now,
            source_ref="consultation/scanner (attestation du médecin)",
        ))
    return evidence


def consultation_event(
    entry: ConsultationEntry, patient: Patient, practitioner: Practitioner, *,
    host: str, consultation_id: int, locale: Locale, now: datetime,
) -> DiagnosisEvent:
    """One event per "Enregistrer": its id is the host's own, so a double submit is one event."""
    return DiagnosisEvent(
        source=EventSource(
            adapter=ADAPTER_NAME, host=host, format="ui",
            message_id=f"consultation-{consultation_id}-{secrets.token_hex(4)}",
        ),
        patient=patient.ref(), practitioner=practitioner,
        evidence=entry_evidence(entry, now), recorded_at=now, locale=locale,
    )


def summary_lines(entry: ConsultationEntry, locale: Locale) -> list[str]:
    """How the consultation summary reads what was entered."""
    lines: list[str] = []
    if entry.diagnosis_code:
        code = CIM10_BY_CODE[entry.diagnosis_code]
        status = ui_text(locale, f"consult.status_{entry.diagnosis_status}")
        lines.append(ui_text(locale, "consult.recorded", what=f"{code.label(locale)} ({status})"))
    if entry.signs_present:
        onset = format_date(entry.onset, locale) if entry.onset else "?"
        text = f" : {entry.signs_text}" if entry.signs_text and locale == "fr" else (
            f": {entry.signs_text}" if entry.signs_text else "")
        lines.append(ui_text(locale, "consult.signs_line", onset=onset, text=text))
    if entry.ct_suggestive:
        key = "consult.ct_ggo" if entry.ct_finding == "ground_glass" else "consult.ct_other"
        lines.append(ui_text(locale, "consult.ct_line", finding=ui_text(locale, key).lower()))
    return lines


# -- imported files --------------------------------------------------------------------------


class WrongPatient(Exception):
    """The imported file names another person than the patient of the consultation."""

    def __init__(self, other: PatientRef) -> None:
        self.other = other
        super().__init__(other.display_name())


def _folded(text: str | None) -> str:
    """Upper case, without accents or punctuation: LEFÈVRE = Lefevre, N'GUYEN = NGUYEN."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    return "".join(c for c in decomposed if c.isalnum()).upper()


def same_person(patient: Patient, other: PatientRef) -> bool:
    """The INS when both have one; otherwise family name, first given name and birth date."""
    if patient.ins and other.ins:
        return patient.ins == other.ins
    if other.host_patient_id == patient.id:
        return True
    given = (other.given_name or "").split()
    return (
        _folded(other.family_name) == _folded(patient.family_name)
        and bool(given) and _folded(given[0]) == _folded(patient.given_name.split()[0])
        and other.birth_date == patient.birth_date
    )


def imported_events(data: bytes, name: str, patient: Patient,
                    locale: Locale) -> list[DiagnosisEvent]:
    """Read a lab file for the patient of the consultation.

    The events keep the sender's identity (lab, message id: a re-import is recognised) and are
    attached to the EHR's own patient.

    :raises InputError: the file cannot be read (what, where, how to fix).
    :raises WrongPatient: the file is about someone else.
    """
    events = read_bytes(data, name, ADAPTER_NAME)
    for event in events:
        if not same_person(patient, event.patient):
            raise WrongPatient(event.patient)
    return [e.model_copy(update={"patient": patient.ref(), "locale": locale}) for e in events]


def unreadable_file(data: bytes, name: str, locale: Locale) -> str:
    """Why a file could not be imported, in the physician's words (the reader's own message,
    in English, is kept as a technical detail for the support)."""
    if not data.strip():
        return ui_text(locale, "import.empty", name=name)
    if len(data) > MAX_FILE_BYTES:
        return ui_text(locale, "import.too_large", name=name,
                       size=f"{len(data) / 1_000_000:.0f}", limit=f"{MAX_FILE_BYTES // 1_000_000}")
    fmt = sniff_format(data)
    if fmt == "unknown":
        return ui_text(locale, "import.unknown_format", name=name)
    return ui_text(locale, "import.unreadable", name=name,
                   format={"hl7v2": "HL7 v2", "hprim": "HPRIM", "cda": "CDA"}.get(fmt, fmt.upper()))
