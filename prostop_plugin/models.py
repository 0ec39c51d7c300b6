"""Models for everything that crosses a boundary: events in, decisions, records, receipts out.

They are also the plugin's own JSON event format (``prostop schema`` prints its JSON Schema):
a vendor who speaks neither HL7, HPRIM nor CDA can post a :class:`DiagnosisEvent` as JSON.

Readers (HL7, HPRIM, CDA, JSON) only *transcribe* what a message says into these models;
deciding what the evidence means is :mod:`prostop_plugin.eligibility`'s job alone.
"""

from __future__ import annotations

import enum
import hashlib
import re
from datetime import UTC, date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

Locale = Literal["fr", "en"]
Decision = Literal["confirmed", "probable", "not_eligible"]
#: HL7 OBX-11 result status: Final, Corrected, Preliminary, Deleted (X: cannot be obtained).
ResultStatus = Literal["F", "C", "P", "D", "X"]
#: DG1-6 diagnosis type, widened: admitting, working (provisional), final (confirmed), ruled out.
DiagnosisStatus = Literal["admitting", "working", "final", "ruled_out"]


def utcnow() -> datetime:
    return datetime.now(UTC)


class Model(BaseModel):
    """Strict about unknown fields: a typo in a JSON event is an error, not a silent drop."""

    model_config = ConfigDict(extra="forbid", frozen=False, str_strip_whitespace=True)


class CodeSystem(enum.StrEnum):
    """Canonical names readers normalise code systems to (HL7 table 0396 spellings)."""

    LOINC = "LN"
    SNOMED = "SCT"
    CIM10 = "I10"
    HL7_0136 = "HL70136"  # yes/no
    LOCAL = "L"


#: OIDs and other spellings met in French messages, mapped to the canonical names.
CODE_SYSTEM_ALIASES: dict[str, str] = {
    "2.16.840.1.113883.6.1": CodeSystem.LOINC,
    "LOINC": CodeSystem.LOINC,
    "http://loinc.org": CodeSystem.LOINC,
    "2.16.840.1.113883.6.96": CodeSystem.SNOMED,
    "SNOMED": CodeSystem.SNOMED,
    "SNOMED-CT": CodeSystem.SNOMED,
    "SNM": CodeSystem.SNOMED,
    "http://snomed.info/sct": CodeSystem.SNOMED,
    "2.16.840.1.113883.6.3": CodeSystem.CIM10,
    "CIM10": CodeSystem.CIM10,
    "CIM-10": CodeSystem.CIM10,
    "ICD10": CodeSystem.CIM10,
    "ICD-10": CodeSystem.CIM10,
    "I10C": CodeSystem.CIM10,
    "http://hl7.org/fhir/sid/icd-10": CodeSystem.CIM10,
    "99L": CodeSystem.LOCAL,
}


def normalise_system(system: str | None) -> str:
    """Return the canonical code-system name; unknown systems are kept as given (local codes)."""
    if not system:
        return CodeSystem.LOCAL
    key = system.strip()
    return CODE_SYSTEM_ALIASES.get(key, CODE_SYSTEM_ALIASES.get(key.upper(), key))


class Coding(Model):
    """A code in a code system, e.g. ``94500-6`` in LOINC (``LN``)."""

    code: str = Field(min_length=1, max_length=200)
    system: str = Field(default=CodeSystem.LOCAL, description="LN, SCT, I10, L, or a local name")
    display: str | None = None

    @field_validator("system", mode="before")
    @classmethod
    def _canonical_system(cls, value: object) -> object:
        return normalise_system(value) if isinstance(value, str) or value is None else value

    def is_(self, system: str, *codes: str) -> bool:
        return self.system == system and self.code.upper() in {c.upper() for c in codes}


# --- evidence -------------------------------------------------------------------------------


class LabResult(Model):
    """One laboratory observation (HL7 OBX, HPRIM RES line, CDA observation)."""

    kind: Literal["lab_result"] = "lab_result"
    test: Coding = Field(description="the test code as sent first (often a local code)")
    test_alternate: Coding | None = Field(
        default=None, description="the alternate test code (OBX-3.4-6), usually LOINC"
    )
    value_type: str | None = Field(default=None, description="HL7 value type: CWE, ST, NM, TX…")
    value_coded: Coding | None = None
    value_text: str | None = None
    value_numeric: float | None = None
    unit: str | None = None
    abnormal_flag: str | None = None
    status: ResultStatus = "F"
    observed_at: datetime | None = None
    collected_at: datetime | None = None
    source_ref: str | None = Field(default=None, description="where in the source, e.g. OBX[1]")
    panel: Coding | None = Field(
        default=None, description="the order the result belongs to (HL7 OBR-4, HPRIM OBR): "
        "its label may name the technique of a multiplex panel's analytes",
    )
    sender: str | None = Field(
        default=None, description="the laboratory that sent it (HL7 MSH-4, HPRIM sender, CDA "
        "author organisation): its local codes map through [eligibility.local_codes]",
    )


class DiagnosisEvidence(Model):
    """A diagnosis recorded by a physician (HL7 DG1, CDA problem, host UI): a code, or only
    its words when the sender gave no code."""

    kind: Literal["diagnosis"] = "diagnosis"
    code: Coding | None = Field(default=None, description="CIM-10, SNOMED CT or a local code")
    text: str | None = Field(default=None, description="the diagnosis in words, when uncoded")
    status: DiagnosisStatus = "final"
    recorded_at: datetime | None = None
    source_ref: str | None = None

    @model_validator(mode="after")
    def _code_or_text(self) -> DiagnosisEvidence:
        if self.code is None and not self.text:
            raise ValueError("a diagnosis needs a code or a text")
        return self

    def label(self) -> str:
        """What the sender wrote: the code's display, else the text (empty without either)."""
        return (self.code.display if self.code is not None and self.code.display else None) \
            or self.text or ""


class SymptomEvidence(Model):
    """Clinical signs: present or not, and when they began."""

    kind: Literal["symptoms"] = "symptoms"
    present: bool = True
    onset_date: date | None = None
    description: str | None = None
    source_ref: str | None = None


class ImagingFinding(Model):
    """A chest-CT (or other imaging) finding: coded, flagged in a report, or attested."""

    kind: Literal["imaging"] = "imaging"
    exam: Coding | None = Field(default=None, description="e.g. LOINC 24627-2 CT Chest")
    finding: Coding | None = Field(default=None, description="e.g. SNOMED 1217294009")
    suggestive_of_covid: bool | None = Field(
        default=None, description="report flag or physician attestation; None when unknown"
    )
    text: str | None = None
    status: ResultStatus = "F"
    observed_at: datetime | None = None
    source_ref: str | None = None


Evidence = Annotated[
    LabResult | DiagnosisEvidence | SymptomEvidence | ImagingFinding,
    Field(discriminator="kind"),
]


# --- people -----------------------------------------------------------------------------------


class PatientRef(Model):
    """Who the patient is *in the host*. Never sent to the code service."""

    host_patient_id: str = Field(min_length=1, description="the host's own patient id")
    ins: str | None = Field(default=None, description="INS / NIR (15 digits with key)")
    ins_oid: str | None = None
    family_name: str | None = None
    given_name: str | None = None
    birth_date: date | None = None
    sex: Literal["F", "M", "U"] | None = None

    def display_name(self) -> str:
        parts = [self.family_name or "", self.given_name or ""]
        return " ".join(p for p in parts if p) or self.host_patient_id


_NATIONAL_ID = re.compile(r"^(8\d{11}|0\d{9})$")
PROFESSIONS: dict[str, tuple[str, str]] = {
    "10": ("médecin", "physician"),
    "60": ("infirmier", "nurse"),
    "21": ("pharmacien", "pharmacist"),
    "40": ("chirurgien-dentiste", "dentist"),
    "50": ("sage-femme", "midwife"),
}


class Practitioner(Model):
    """A health professional, identified by the PSC national id (``8`` + RPPS, ``0`` + ADELI)."""

    national_id: str = Field(description="'8' + 11-digit RPPS, or '0' + 9-digit ADELI")
    family_name: str | None = None
    given_name: str | None = None
    profession_code: str | None = Field(default=None, description="10 médecin, 60 infirmier…")

    @field_validator("national_id")
    @classmethod
    def _national_id_form(cls, value: str) -> str:
        if len(value) == 11 and value.isdigit():
            value = "8" + value  # a bare RPPS
        if not _NATIONAL_ID.match(value):
            raise ValueError(
                "expected '8' followed by the 11-digit RPPS (e.g. 810003456789), "
                "a bare 11-digit RPPS, or '0' followed by a 9-digit ADELI"
            )
        return value

    @classmethod
    def from_rpps(cls, rpps: str, **fields: str | None) -> Practitioner:
        return cls(national_id=rpps, **fields)

    @property
    def rpps(self) -> str | None:
        return self.national_id[1:] if self.national_id.startswith("8") else None

    def display_name(self) -> str:
        name = " ".join(p for p in (self.given_name, self.family_name) if p)
        return f"Dr {name}" if name and self.profession_code == "10" else (name or self.national_id)


# --- the event ------------------------------------------------------------------------------


class EventSource(Model):
    """Where an event came from; its identity is what deduplication keys on."""

    adapter: str = Field(min_length=1, description="adapter name, e.g. hl7v2_mllp, filedrop")
    host: str = Field(min_length=1, description="sending host / facility / installation")
    message_id: str | None = Field(default=None, description="MSH-10, host event id…")
    content_hash: str | None = Field(default=None, description="sha256 of the raw input")
    format: str | None = Field(default=None, description="hl7v2, hprim, cda, json…")
    received_at: datetime = Field(default_factory=utcnow)

    @model_validator(mode="after")
    def _identifiable(self) -> EventSource:
        if not self.message_id and not self.content_hash:
            raise ValueError("an event source needs a message_id or a content_hash to dedupe on")
        return self

    def dedupe_key(self) -> str:
        ident = f"msg:{self.message_id}" if self.message_id else f"sha256:{self.content_hash}"
        return f"{self.adapter}|{self.host}|{ident}"


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class DiagnosisEvent(Model):
    """A confirmed/probable COVID-19 diagnosis, or evidence that may imply one."""

    schema_version: Literal[1] = 1
    source: EventSource
    patient: PatientRef
    practitioner: Practitioner | None = Field(
        default=None, description="the recording / ordering professional, when known"
    )
    evidence: list[Evidence] = Field(min_length=1)
    recorded_at: datetime = Field(default_factory=utcnow)
    locale: Locale | None = Field(
        default=None,
        description="language of what the physician and patient read for this event; "
        "None: the installation's (setting 'locale', French by default)",
    )


class ResultCorrection(Model):
    """A lab result was corrected (OBX-11 C) or deleted (D) after it was first sent."""

    source: EventSource
    patient: PatientRef
    result: LabResult
    original_message_id: str | None = None


# --- decisions ------------------------------------------------------------------------------


class LocalizedText(Model):
    fr: str
    en: str

    def get(self, locale: Locale) -> str:
        return self.fr if locale == "fr" else self.en


class EvidenceUsed(Model):
    """One piece of evidence a decision relied on, described for the physician."""

    kind: str
    summary: LocalizedText
    source_ref: str | None = None
    observed_on: date | None = None


class EligibilityDecision(Model):
    decision: Decision
    rule: str = Field(description="the doctrine rule that decided, e.g. naat_positive")
    reasons: list[LocalizedText]
    evidence: list[EvidenceUsed] = Field(default_factory=list)
    reference_date: date | None = Field(
        default=None, description="the date the app will ask for: symptom onset or test date"
    )
    reference_date_kind: Literal["symptom_onset", "test_date"] | None = None
    requires_qr_attestation: bool = False
    requires_rtpcr_attestation: bool = False
    as_of: date


class IssuanceState(enum.StrEnum):
    RECEIVED = "received"
    NOT_ELIGIBLE = "not_eligible"
    AWAITING_CONFIRMATION = "awaiting_confirmation"
    DECLINED = "declined"
    APPROVED = "approved"
    ISSUING = "issuing"
    ISSUED = "issued"
    WRITTEN_BACK = "written_back"
    WRITE_BACK_FAILED = "write_back_failed"
    ISSUE_FAILED = "issue_failed"
    EXPIRED = "expired"

    @property
    def holds_code(self) -> bool:
        """A code was issued and may still be valid (issued, written back or not yet)."""
        return self in _HOLDING_A_CODE

    @property
    def received_code(self) -> bool:
        """A code was issued at some point: one that holds it, or one whose validity passed."""
        return self in _HOLDING_A_CODE or self is IssuanceState.EXPIRED


_HOLDING_A_CODE = frozenset(
    {IssuanceState.ISSUED, IssuanceState.WRITTEN_BACK, IssuanceState.WRITE_BACK_FAILED}
)


class PreviousIssuance(Model):
    """What the physician is shown about codes this patient received before."""

    issuance_id: str
    state: IssuanceState
    issued_at: datetime | None
    valid_until: datetime | None
    code_last2: str | None


class ConfirmationRequest(Model):
    """What the host's confirmation dialog shows."""

    issuance_id: str
    source: EventSource = Field(
        description="where the issuance's event came from: a confirmation hook answers for "
        "its own adapter's requests (source.adapter) and returns None for the others",
    )
    patient: PatientRef
    practitioner: Practitioner | None
    decision: EligibilityDecision
    previous_issuances: list[PreviousIssuance] = Field(default_factory=list)
    binding_message: str | None = Field(
        default=None, pattern=r"^\d{2}$",
        description="two digits the e-CPS app will show for approval (None: not eligible)",
    )
    locale: Locale = "fr"


class ConfirmationDecision(Model):
    """The physician's answer."""

    approved: bool
    practitioner: Practitioner
    qr_unavailable_attested: bool = Field(
        default=False,
        description="the SI-DEP QR code is unavailable or not working and will not be used "
        "by anyone else (mandatory for a confirmed case)",
    )
    rtpcr_positive_attested: bool = Field(
        default=False, description="a positive RT-PCR exists though none is on file"
    )
    symptom_onset: date | None = None
    decline_reason: str | None = None
    decided_at: datetime = Field(default_factory=utcnow)


class AccessToken(Model):
    """A Pro Santé Connect access token, held in memory only."""

    access_token: SecretStr
    expires_at: datetime
    subject: str = Field(description="SubjectNameID, the practitioner's national id")
    acr: str | None = None
    profession_codes: list[str] = Field(default_factory=list)

    def expires_within(self, seconds: float, now: datetime | None = None) -> bool:
        return (self.expires_at - (now or utcnow())).total_seconds() <= seconds


class CodeRequest(Model):
    """What the plugin asks a code issuer for. Deliberately holds no patient data."""

    idempotency_key: str
    test_type: Literal["confirmed", "likely"]
    symptom_date: date | None = None
    test_date: date | None = None


CODE_PATTERN = r"^[A-Za-z0-9]{6}$"


class IssuedCode(Model):
    code: SecretStr
    valid_from: datetime
    valid_until: datetime
    generated_at: datetime | None = None

    @field_validator("code")
    @classmethod
    def _code_form(cls, value: SecretStr) -> SecretStr:
        if not re.match(CODE_PATTERN, value.get_secret_value()):
            raise ValueError("a declaration code is 6 letters or digits")
        return value


class WriteBackReceipt(Model):
    adapter: str
    target: str = Field(description="where it was written: record id, file path, peer…")
    written_at: datetime = Field(default_factory=utcnow)
    detail: str | None = None


class IssuanceRecord(Model):
    """The ledger's view of one issuance; what write-back and observers receive.

    ``code`` is clear only in memory, for the write-back and the handout; the ledger stores it
    encrypted, and logs and audit carry only ``code_digest`` and ``code_last2``.
    """

    id: str
    episode: str = Field(description="pseudonymous episode key")
    state: IssuanceState
    event: DiagnosisEvent
    decision: EligibilityDecision | None = None
    confirmation: ConfirmationDecision | None = None
    binding_message: str | None = None
    code: SecretStr | None = None
    code_last2: str | None = None
    code_digest: str | None = None
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    issued_at: datetime | None = None
    replaces: str | None = Field(default=None, description="the expired issuance re-issued")
    error: LocalizedText | None = None
    flag: LocalizedText | None = Field(
        default=None, description="a warning for the physician, e.g. the result was corrected"
    )
    receipts: list[WriteBackReceipt] = Field(default_factory=list)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)

    @property
    def patient(self) -> PatientRef:
        return self.event.patient

    @property
    def locale(self) -> Locale:
        return self.event.locale or "fr"


class AdapterInfo(Model):
    """An adapter's descriptor, registered through ``prostop_register_adapters``."""

    name: str
    title: str
    description: str = ""
    has_confirmation_ui: bool = False
    formats: list[str] = Field(default_factory=list)
