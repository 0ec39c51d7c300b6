"""Eligibility doctrine (DOMAIN.md §4) as pure, table-driven rules.

:func:`evaluate` works in three steps, with no I/O:

1. **read** — each piece of evidence becomes a :class:`Fact`: what it is (RT-PCR, diagnosis,
   chest CT…), what it says (positive, negative…) and the day it counts for;
2. **settle** — evidence known only after ``as_of`` is set aside, and a lab result is
   superseded by a later correction (C) or deletion (D) of the same test and sample;
3. **decide** — :data:`RULES` are tried in order and the first that matches decides. The order
   is the doctrine's precedence: confirmed, then probable, then the reasons for not being
   eligible, most useful first. A not-eligible decision also lists what the later rules found.

Evidence is put in a canonical order first, so the order it arrives in never changes a decision.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

from prostop_plugin.events import (
    CodeSystem,
    Coding,
    Decision,
    DiagnosisEvidence,
    EligibilityDecision,
    Evidence,
    EvidenceUsed,
    ImagingFinding,
    LabResult,
    LocalizedText,
    SymptomEvidence,
    normalise_system,
)
from prostop_plugin.texts.formatting import format_date

PARIS = ZoneInfo("Europe/Paris")
ReferenceKind = Literal["symptom_onset", "test_date"]


class EligibilityPolicy(BaseModel):
    """The ``[eligibility]`` configuration section. Defaults are the 2020 mission's doctrine."""

    model_config = ConfigDict(extra="forbid")

    accept_antigen: bool = Field(
        default=False,
        description="count a positive antigen test as confirming (the mission requires RT-PCR)",
    )
    contact_window_days: int = Field(
        default=14, ge=0, le=365,
        description="results and symptom onsets older than this many days are too old",
    )
    episode_window_days: int = Field(
        default=14, ge=1, le=365, description="one code per patient per episode of this length"
    )
    allowed_professions: list[str] = Field(
        default=["10", "60"],
        description="PSC profession codes allowed to confirm (10 médecin, 60 infirmier)",
    )
    naat_loinc: list[str] = Field(
        default=["94500-6", "94309-2", "94759-8", "94845-5", "94565-9", "95608-6", "94533-7",
                 "94534-5", "94531-1", "94306-8"],
        description="LOINC codes of SARS-CoV-2 RT-PCR / NAAT results, panels included",
    )
    antigen_loinc: list[str] = Field(
        default=["94558-4", "95209-3"], description="LOINC codes of SARS-CoV-2 antigen tests"
    )
    serology_loinc: list[str] = Field(
        default=["94762-2", "94563-4", "94564-2", "94562-6", "94547-7", "94769-7"],
        description="LOINC codes of SARS-CoV-2 antibody tests (never confirming)",
    )
    ct_value_loinc: list[str] = Field(
        default=["94745-7", "94746-5"],
        description="LOINC codes of RT-PCR cycle-threshold values (numbers, not results)",
    )
    chest_ct_loinc: list[str] = Field(
        default=["24627-2"], description="LOINC codes of a chest CT exam"
    )
    symptoms_question_loinc: list[str] = Field(
        default=["95419-8"], description="LOINC codes of the 'has symptoms' yes/no question"
    )
    symptom_onset_loinc: list[str] = Field(
        default=["65222-2"], description="LOINC codes whose value is the symptom onset date"
    )
    confirmed_cim10: list[str] = Field(
        default=["U07.1", "U07.10", "U07.12", "U07.14"],
        description="CIM-10 codes of COVID-19 with the virus identified",
    )
    suspected_cim10: list[str] = Field(
        default=["U07.2", "U07.11", "U07.15"],
        description="CIM-10 codes of COVID-19 with the virus not identified (probable, suspected)",
    )
    ruled_out_cim10: list[str] = Field(
        default=["U07.13"], description="CIM-10 codes of a contact or a ruled-out case"
    )
    confirmed_snomed: list[str] = Field(
        default=["840539006"], description="SNOMED CT codes of COVID-19 disease"
    )
    suspected_snomed: list[str] = Field(
        default=["840544004"], description="SNOMED CT codes of suspected COVID-19"
    )
    positive_snomed: list[str] = Field(
        default=["10828004", "260373001"], description="SNOMED CT result values: positive"
    )
    negative_snomed: list[str] = Field(
        default=["260385009", "260415000"], description="SNOMED CT result values: negative"
    )
    indeterminate_snomed: list[str] = Field(
        default=["373068000"], description="SNOMED CT result values: indeterminate"
    )
    chest_ct_finding_snomed: list[str] = Field(
        default=["1217294009"],
        description="SNOMED CT chest-CT findings suggestive of COVID-19 (ground-glass opacity)",
    )
    chest_ct_abnormal_flags: list[str] = Field(
        default=["A", "AA"],
        description="abnormal flags that make a chest CT suggestive when it carries no coded "
        "finding outside chest_ct_finding_snomed; empty to require a coded finding",
    )
    positive_texts: list[str] = Field(
        default=["POSITIF", "POSITIVE", "DETECTE", "DÉTECTÉ", "DÉTECTÉE", "DETECTED"],
        description="result words read as positive; matched as whole words, ignoring case and "
        "accents, and never when the text also holds a negation (non, pas, absence…)",
    )
    negative_texts: list[str] = Field(
        default=["NEGATIF", "NÉGATIF", "NÉGATIVE", "NEGATIVE", "NON DETECTE", "NON DÉTECTÉ",
                 "NON DÉTECTÉE", "NOT DETECTED", "UNDETECTED", "INDÉTECTABLE", "ABSENCE",
                 "ABSENCE D'ARN", "ABSENCE DE DÉTECTION"],
        description="result words read as negative (whole words, case and accents ignored)",
    )
    indeterminate_texts: list[str] = Field(
        default=["ININTERPRETABLE", "ININTERPRÉTABLE", "NON INTERPRÉTABLE", "INDETERMINE",
                 "INDÉTERMINÉ", "INDÉTERMINÉE", "INDETERMINATE", "DOUTEUX", "ÉQUIVOQUE",
                 "INCONCLUSIVE", "INVALIDE", "INVALID"],
        description="result words read as indeterminate (whole words, case and accents ignored)",
    )
    symptom_yes_texts: list[str] = Field(
        default=["Y", "OUI", "YES", "O"], description="answers meaning 'has symptoms'"
    )
    symptom_no_texts: list[str] = Field(
        default=["N", "NON", "NO"], description="answers meaning 'has no symptoms'"
    )
    negative_naat_blocks_diagnosis: bool = Field(
        default=True,
        description="a negative RT-PCR on file, and no positive one, stops a 'virus identified' "
        "diagnosis from being confirmed on the physician's attestation alone",
    )
    local_codes: dict[str, str] = Field(
        default={},
        description="a lab's local test code ('CODE' or 'SYSTEM:CODE') mapped to a LOINC code",
    )


# -- reading a lab result ------------------------------------------------------------------------


class LabCategory(enum.StrEnum):
    NAAT = "naat"
    ANTIGEN = "antigen"
    SEROLOGY = "serology"
    CT_VALUE = "ct_value"
    CHEST_CT = "chest_ct"
    SYMPTOMS_QUESTION = "symptoms_question"
    SYMPTOM_ONSET = "symptom_onset"
    OTHER = "other"


class Interpretation(enum.StrEnum):
    """What a result says. For a chest CT, positive = suggestive of COVID-19; for the symptoms
    question, positive = yes."""

    POSITIVE = "positive"
    NEGATIVE = "negative"
    INDETERMINATE = "indeterminate"
    UNKNOWN = "unknown"


# Words that make a "positive" word unreliable ("non positif", "pas détecté"): a safety guard
# against issuing on a negation the lists did not foresee, so it is not configuration.
_NEGATIONS = frozenset({
    "NON", "NOT", "NO", "PAS", "AUCUN", "AUCUNE", "ABSENCE", "ABSENT", "ABSENTE", "SANS",
    "WITHOUT", "NEG", "NEGATIF", "NEGATIVE", "INDETECTABLE", "UNDETECTED",
})


def _words(text: str) -> tuple[str, ...]:
    """Upper-case words without accents: "Non détecté" -> ("NON", "DETECTE")."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).upper()
    return tuple(re.findall(r"[A-Z0-9]+", plain))


def _mentions(words: tuple[str, ...], terms: Iterable[str]) -> bool:
    for term in terms:
        wanted = _words(term)
        n = len(wanted)
        if n and any(words[i:i + n] == wanted for i in range(len(words) - n + 1)):
            return True
    return False


def interpret_text(text: str | None, policy: EligibilityPolicy | None = None) -> Interpretation:
    """Read a result written in words ("POSITIF", "Non détecté", "ININTERPRETABLE")."""
    policy = policy or EligibilityPolicy()
    words = _words(text or "")
    if not words:
        return Interpretation.UNKNOWN
    if _mentions(words, policy.indeterminate_texts):
        return Interpretation.INDETERMINATE
    if _mentions(words, policy.negative_texts):
        return Interpretation.NEGATIVE
    if _mentions(words, policy.positive_texts) and not _NEGATIONS.intersection(words):
        return Interpretation.POSITIVE
    return Interpretation.UNKNOWN


def _upper(codes: Iterable[str]) -> set[str]:
    return {c.strip().upper() for c in codes}


def _coded_reading(coding: Coding, policy: EligibilityPolicy) -> Interpretation:
    if coding.system == CodeSystem.SNOMED:
        code = coding.code.upper()
        for codes, reading in (
            (policy.positive_snomed, Interpretation.POSITIVE),
            (policy.negative_snomed, Interpretation.NEGATIVE),
            (policy.indeterminate_snomed, Interpretation.INDETERMINATE),
        ):
            if code in _upper(codes):
                return reading
    return Interpretation.UNKNOWN


def _result_reading(result: LabResult, policy: EligibilityPolicy) -> Interpretation:
    """A qualitative result from its coded value and its words; when they disagree, unknown."""
    readings: set[Interpretation] = set()
    if result.value_coded is not None:
        coded = _coded_reading(result.value_coded, policy)
        if coded is Interpretation.UNKNOWN:  # a local code: its display text may still say it
            coded = interpret_text(result.value_coded.display, policy)
        readings.add(coded)
    if result.value_text:
        readings.add(interpret_text(result.value_text, policy))
    readings.discard(Interpretation.UNKNOWN)
    return readings.pop() if len(readings) == 1 else Interpretation.UNKNOWN


def _yes_no(result: LabResult, policy: EligibilityPolicy) -> Interpretation:
    answers = [result.value_coded.code if result.value_coded else None, result.value_text]
    for answer in answers:
        words = _words(answer or "")
        if not words:
            continue
        if any(_words(t) == words[:1] or _words(t) == words for t in policy.symptom_yes_texts):
            return Interpretation.POSITIVE
        if any(_words(t) == words[:1] or _words(t) == words for t in policy.symptom_no_texts):
            return Interpretation.NEGATIVE
    return Interpretation.UNKNOWN


def _chest_ct_reading(result: LabResult, policy: EligibilityPolicy) -> Interpretation:
    """Suggestive on a listed coded finding, or on an abnormal flag when nothing is coded.

    An abnormal CT is not necessarily COVID-19 (a tumour is abnormal too): any other coded
    finding, or a listed one flagged normal, is inconclusive. Report text is not parsed.
    """
    finding = result.value_coded
    flag = (result.abnormal_flag or "").strip().upper()
    if finding is not None:
        listed = finding.system == CodeSystem.SNOMED and \
            finding.code.upper() in _upper(policy.chest_ct_finding_snomed)
        return Interpretation.POSITIVE if listed and flag != "N" else Interpretation.UNKNOWN
    if flag == "N":
        return Interpretation.NEGATIVE
    if flag and flag in _upper(policy.chest_ct_abnormal_flags):
        return Interpretation.POSITIVE
    return Interpretation.UNKNOWN


def _local_key(coding: Coding) -> list[str]:
    return [f"{coding.system}:{coding.code}".upper(), coding.code.upper()]


def resolve_loinc(coding: Coding | None, policy: EligibilityPolicy | None = None) -> str | None:
    """The LOINC code a test coding stands for: itself, or its ``local_codes`` mapping."""
    if coding is None:
        return None
    if coding.system == CodeSystem.LOINC:
        return coding.code
    mapping = {_canonical_local_key(k): v for k, v in (policy or EligibilityPolicy())
               .local_codes.items()}
    for key in _local_key(coding):
        if key in mapping:
            return mapping[key]
    return None


def _canonical_local_key(key: str) -> str:
    system, sep, code = key.strip().rpartition(":")
    return f"{normalise_system(system)}:{code}".upper() if sep else code.upper()


def _category_of(loinc: str | None, policy: EligibilityPolicy) -> LabCategory:
    if loinc is None:
        return LabCategory.OTHER
    for codes, category in (
        (policy.naat_loinc, LabCategory.NAAT),
        (policy.antigen_loinc, LabCategory.ANTIGEN),
        (policy.serology_loinc, LabCategory.SEROLOGY),
        (policy.ct_value_loinc, LabCategory.CT_VALUE),
        (policy.chest_ct_loinc, LabCategory.CHEST_CT),
        (policy.symptoms_question_loinc, LabCategory.SYMPTOMS_QUESTION),
        (policy.symptom_onset_loinc, LabCategory.SYMPTOM_ONSET),
    ):
        if loinc.upper() in _upper(codes):
            return category
    return LabCategory.OTHER


@dataclass(frozen=True)
class _TestCode:
    category: LabCategory
    loinc: str | None
    local: str | None  # the lab's own code, when the LOINC code came from local_codes


def _test_code(result: LabResult, policy: EligibilityPolicy) -> _TestCode:
    """Category and LOINC code, looking at the first and the alternate test codes."""
    found: list[_TestCode] = []
    for coding in (result.test, result.test_alternate):
        loinc = resolve_loinc(coding, policy)
        if coding is not None and loinc is not None:
            local = None if coding.system == CodeSystem.LOINC else coding.code
            found.append(_TestCode(_category_of(loinc, policy), loinc, local))
    known = [t for t in found if t.category is not LabCategory.OTHER]
    return (known or found or [_TestCode(LabCategory.OTHER, None, None)])[0]


def classify_lab_result(result: LabResult, policy: EligibilityPolicy | None = None) -> LabCategory:
    """What kind of SARS-CoV-2 observation a lab result is (``other`` when none)."""
    return _test_code(result, policy or EligibilityPolicy()).category


def interpret_lab_result(
    result: LabResult, policy: EligibilityPolicy | None = None
) -> Interpretation:
    """What a lab result says. A Ct value or a date is never a result: always unknown."""
    policy = policy or EligibilityPolicy()
    category = classify_lab_result(result, policy)
    if category is LabCategory.CHEST_CT:
        return _chest_ct_reading(result, policy)
    if category is LabCategory.SYMPTOMS_QUESTION:
        return _yes_no(result, policy)
    if category in (LabCategory.CT_VALUE, LabCategory.SYMPTOM_ONSET):
        return Interpretation.UNKNOWN
    return _result_reading(result, policy)


_DATE_FORMS = (
    re.compile(r"^(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})"),  # HL7 DT / TS
    re.compile(r"^(?P<y>\d{4})-(?P<m>\d{2})-(?P<d>\d{2})"),  # ISO 8601
    re.compile(r"^(?P<d>\d{1,2})/(?P<m>\d{1,2})/(?P<y>\d{4})"),  # French
)


def parse_onset_date(text: str | None) -> date | None:
    """A symptom onset date as labs and software write it; None when unreadable."""
    value = (text or "").strip()
    for form in _DATE_FORMS:
        if match := form.match(value):
            try:
                return date(int(match["y"]), int(match["m"]), int(match["d"]))
            except ValueError:
                return None
    return None


def _day(moment: datetime | None) -> date | None:
    """The calendar day in France; a time without zone is taken as French local time."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        return moment.date()
    try:
        return moment.astimezone(PARIS).date()
    except (OverflowError, ValueError):
        return moment.date()


def _instant(moment: datetime | None) -> datetime:
    """A comparable instant: zone-less times are French local time, unknown sorts first."""
    if moment is None:
        return datetime.min.replace(tzinfo=UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=PARIS)


# -- facts ---------------------------------------------------------------------------------------


class Kind(enum.StrEnum):
    """What a fact is about (a lab category, or what a diagnosis / symptom record says)."""

    NAAT = "naat"
    ANTIGEN = "antigen"
    SEROLOGY = "serology"
    CT_VALUE = "ct_value"
    CHEST_CT = "chest_ct"
    SYMPTOMS = "symptoms"
    SYMPTOM_ONSET = "symptom_onset"
    DIAGNOSIS_CONFIRMED = "diagnosis_confirmed"
    DIAGNOSIS_SUSPECTED = "diagnosis_suspected"
    DIAGNOSIS_RULED_OUT = "diagnosis_ruled_out"
    OTHER = "other"


_LAB_KINDS = {
    LabCategory.NAAT: Kind.NAAT, LabCategory.ANTIGEN: Kind.ANTIGEN,
    LabCategory.SEROLOGY: Kind.SEROLOGY, LabCategory.CT_VALUE: Kind.CT_VALUE,
    LabCategory.CHEST_CT: Kind.CHEST_CT, LabCategory.SYMPTOMS_QUESTION: Kind.SYMPTOMS,
    LabCategory.SYMPTOM_ONSET: Kind.SYMPTOM_ONSET, LabCategory.OTHER: Kind.OTHER,
}


@dataclass(frozen=True)
class Fact:
    """One piece of evidence as the rules see it."""

    item: Evidence
    kind: Kind
    reading: Interpretation
    day: date | None  # the day it counts for: sample, onset, diagnosis, exam
    known_on: date | None  # the day it was known; after as_of it does not count yet
    status: str | None = None  # OBX-11 letter, or the diagnosis status
    code: str | None = None  # shown to the physician: LOINC, CIM-10, SNOMED
    local_code: str | None = None  # the lab's own code when LOINC came from local_codes
    onset: date | None = None
    superseded_by: Fact | None = None
    contested: bool = False  # same test and sample, equally recent, saying different things

    @property
    def usable(self) -> bool:
        """A final or corrected result, not contradicted by an equally recent one."""
        return self.status in ("F", "C") and not self.contested


def _lab_fact(result: LabResult, policy: EligibilityPolicy) -> Fact:
    test = _test_code(result, policy)
    kind = _LAB_KINDS[test.category]
    days = [d for d in (_day(result.collected_at), _day(result.observed_at)) if d]
    onset = None
    if kind is Kind.SYMPTOM_ONSET:
        onset = parse_onset_date(result.value_text or (
            result.value_coded.code if result.value_coded else None))
    return Fact(
        item=result, kind=kind, reading=interpret_lab_result(result, policy),
        day=onset or (days[0] if days else None),
        known_on=max([*days, *([onset] if onset else [])], default=None),
        status=result.status, code=test.loinc or result.test.code, local_code=test.local,
        onset=onset,
    )


def _diagnosis_kind(coding: Coding, policy: EligibilityPolicy) -> Kind:
    if coding.system == CodeSystem.SNOMED:
        code = coding.code.upper()
        if code in _upper(policy.confirmed_snomed):
            return Kind.DIAGNOSIS_CONFIRMED
        if code in _upper(policy.suspected_snomed):
            return Kind.DIAGNOSIS_SUSPECTED
        return Kind.OTHER
    # CIM-10, or a code sent without its system; "U071" and "U07.1" are the same code
    if coding.system not in (CodeSystem.CIM10, CodeSystem.LOCAL):
        return Kind.OTHER
    code = coding.code.replace(".", "").replace(" ", "").upper()
    for codes, kind in (
        (policy.confirmed_cim10, Kind.DIAGNOSIS_CONFIRMED),
        (policy.suspected_cim10, Kind.DIAGNOSIS_SUSPECTED),
        (policy.ruled_out_cim10, Kind.DIAGNOSIS_RULED_OUT),
    ):
        if code in {c.replace(".", "").strip().upper() for c in codes}:
            return kind
    return Kind.OTHER


def _imaging_fact(finding: ImagingFinding, policy: EligibilityPolicy) -> Fact:
    exam = resolve_loinc(finding.exam, policy)
    is_chest_ct = finding.exam is None or _category_of(exam, policy) is LabCategory.CHEST_CT
    if finding.suggestive_of_covid is not None:
        reading = Interpretation(
            "positive" if finding.suggestive_of_covid else "negative")
    elif finding.finding is not None and finding.finding.system == CodeSystem.SNOMED and \
            finding.finding.code.upper() in _upper(policy.chest_ct_finding_snomed):
        reading = Interpretation.POSITIVE
    else:
        reading = Interpretation.UNKNOWN
    day = _day(finding.observed_at)
    return Fact(
        item=finding, kind=Kind.CHEST_CT if is_chest_ct else Kind.OTHER, reading=reading,
        day=day, known_on=day, status=finding.status,
        code=exam or (finding.exam.code if finding.exam else None),
    )


def read_fact(item: Evidence, policy: EligibilityPolicy) -> Fact:
    """Step 1: what one piece of evidence is and says."""
    if isinstance(item, LabResult):
        return _lab_fact(item, policy)
    if isinstance(item, ImagingFinding):
        return _imaging_fact(item, policy)
    if isinstance(item, DiagnosisEvidence):
        day = _day(item.recorded_at)
        kind = _diagnosis_kind(item.code, policy)
        if item.status == "ruled_out" and kind is not Kind.OTHER:
            kind = Kind.DIAGNOSIS_RULED_OUT
        return Fact(item=item, kind=kind, reading=Interpretation.UNKNOWN, day=day, known_on=day,
                    status=item.status, code=item.code.code)
    symptoms: SymptomEvidence = item
    reading = Interpretation.POSITIVE if symptoms.present else Interpretation.NEGATIVE
    onset = symptoms.onset_date if symptoms.present else None
    return Fact(item=symptoms, kind=Kind.SYMPTOMS, reading=reading, day=onset, known_on=onset,
                onset=onset)


def _rank(fact: Fact) -> tuple[int, datetime, int]:
    """How recent a result is: amendments beat finals beat preliminaries, then time;
    a deletion beats a correction stamped the same instant."""
    level = {"C": 2, "D": 2, "F": 1}.get(fact.status or "", 0)
    observed = fact.item.observed_at if isinstance(fact.item, LabResult) else None
    return level, _instant(observed), 1 if fact.status == "D" else 0


def _same_sample(a: Fact, b: Fact) -> bool:
    assert isinstance(a.item, LabResult) and isinstance(b.item, LabResult)
    if (a.kind, a.code) != (b.kind, b.code):
        return False
    ta, tb = a.item.collected_at, b.item.collected_at
    return ta is None or tb is None or _instant(ta) == _instant(tb)


def _settle(facts: list[Fact]) -> tuple[list[Fact], list[Fact]]:
    """Step 2: split lab results into effective ones and those superseded (``superseded_by``)."""
    labs = [f for f in facts if isinstance(f.item, LabResult)]
    effective: list[Fact] = [f for f in facts if not isinstance(f.item, LabResult)]
    superseded: list[Fact] = []
    for fact in labs:
        peers = [p for p in labs if _same_sample(fact, p)]
        top = max(_rank(p) for p in peers)
        if _rank(fact) == top:
            tied = {p.reading for p in peers if _rank(p) == top}
            effective.append(replace(fact, contested=len(tied) > 1))
        else:
            winner = next(p for p in peers if _rank(p) == top)
            superseded.append(replace(fact, superseded_by=winner))
    return effective, superseded


# -- the case the rules look at ------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    facts: tuple[Fact, ...]  # effective and known on as_of
    superseded: tuple[Fact, ...]
    ignored: tuple[Fact, ...]  # known only after as_of
    as_of: date
    policy: EligibilityPolicy
    window_start: date | None  # None: no age limit (how "too old" is recognised)

    def recent(self, day: date | None) -> bool:
        return day is None or self.window_start is None or day >= self.window_start

    def find(
        self, *kinds: Kind, reading: Interpretation | None = None, usable: bool = False,
        recent: bool = False,
    ) -> list[Fact]:
        return [
            f for f in self.facts
            if f.kind in kinds and (reading is None or f.reading is reading)
            and (not usable or f.usable) and (not recent or self.recent(f.day))
        ]

    @property
    def signs(self) -> list[Fact]:
        """Records of clinical signs: a 'yes', or a symptom onset date."""
        return [f for f in self.facts if (f.kind is Kind.SYMPTOMS and f.reading is
                                          Interpretation.POSITIVE) or f.onset is not None]

    @property
    def onset(self) -> date | None:
        """The earliest onset on record: contacts are notified from two days before it."""
        return min((f.onset for f in self.signs if f.onset), default=None)

    def reference(self, test_day: date | None) -> tuple[date | None, ReferenceKind | None]:
        """The date the app asks for: symptom onset, or without symptoms the test date."""
        if self.onset is not None:
            return self.onset, "symptom_onset"
        if test_day is not None:
            return test_day, "test_date"
        return None, None


def _build_case(evidence: Sequence[Evidence], policy: EligibilityPolicy, as_of: date) -> Case:
    ordered = sorted(evidence, key=lambda item: item.model_dump_json())
    facts = [read_fact(item, policy) for item in ordered]
    known = [f for f in facts if f.known_on is None or f.known_on <= as_of]
    ignored = [f for f in facts if f.known_on is not None and f.known_on > as_of]
    effective, superseded = _settle(known)
    try:
        window_start: date | None = as_of - timedelta(days=policy.contact_window_days)
    except OverflowError:
        window_start = date.min
    return Case(tuple(effective), tuple(superseded), tuple(ignored), as_of, policy, window_start)


# -- describing facts to the physician -----------------------------------------------------------


def _t(fr: str, en: str) -> LocalizedText:
    return LocalizedText(fr=fr, en=en)


def _dates(day: date) -> tuple[str, str]:
    return format_date(day, "fr"), format_date(day, "en")


# name (fr), feminine in French, name (en)
_NAMES: dict[Kind, tuple[str, bool, str]] = {
    Kind.NAAT: ("RT-PCR SARS-CoV-2", True, "SARS-CoV-2 RT-PCR"),
    Kind.ANTIGEN: ("test antigénique SARS-CoV-2", False, "SARS-CoV-2 antigen test"),
    Kind.SEROLOGY: ("sérologie SARS-CoV-2", True, "SARS-CoV-2 serology"),
    Kind.CT_VALUE: ("valeur de Ct", True, "Ct value"),
    Kind.CHEST_CT: ("scanner thoracique", False, "chest CT"),
    Kind.OTHER: ("résultat", False, "result"),
}
_READINGS = {
    Interpretation.POSITIVE: ("positif", "positive", "positive"),
    Interpretation.NEGATIVE: ("négatif", "négative", "negative"),
    Interpretation.INDETERMINATE: ("ininterprétable", "ininterprétable", "indeterminate"),
}
_CT_READINGS = {
    Interpretation.POSITIVE: ("évocateur de COVID-19", "suggestive of COVID-19"),
    Interpretation.NEGATIVE: ("sans signe évocateur", "with no suggestive sign"),
    Interpretation.UNKNOWN: ("non concluant", "inconclusive"),
    Interpretation.INDETERMINATE: ("non concluant", "inconclusive"),
}
_STATUSES = {
    "C": ("corrigé", "corrigée", "corrected"), "P": ("préliminaire", "préliminaire", "preliminary"),
    "D": ("supprimé", "supprimée", "deleted"), "X": ("non réalisé", "non réalisée", "not done"),
}
_DIAGNOSES = {
    Kind.DIAGNOSIS_CONFIRMED: ("COVID-19, virus identifié", "COVID-19, virus identified"),
    Kind.DIAGNOSIS_SUSPECTED: ("COVID-19, virus non identifié ou suspicion",
                               "COVID-19, virus not identified or suspected"),
    Kind.DIAGNOSIS_RULED_OUT: ("contact, ou COVID-19 écartée", "contact, or COVID-19 ruled out"),
    Kind.OTHER: ("sans rapport avec la COVID-19", "unrelated to COVID-19"),
}
_DIAGNOSIS_STATUSES = {
    "final": ("définitif", "final"), "working": ("provisoire", "working (provisional)"),
    "admitting": ("d'admission", "admitting"), "ruled_out": ("écarté", "ruled out"),
}


def _raw_value(result: LabResult) -> str:
    if result.value_text:
        raw = result.value_text
    elif result.value_coded is not None:
        raw = result.value_coded.display or result.value_coded.code
    elif result.value_numeric is not None:
        raw = f"{result.value_numeric:g}"
    else:
        return ""
    return raw if len(raw) <= 60 else raw[:59] + "…"


def _describe_lab(fact: Fact, result: LabResult) -> LocalizedText:
    name_fr, feminine, name_en = _NAMES.get(fact.kind, _NAMES[Kind.OTHER])
    raw = _raw_value(result)
    if fact.kind is Kind.CT_VALUE:
        said_fr, said_en = raw.replace(".", ","), raw
    elif fact.kind is Kind.CHEST_CT:
        said_fr, said_en = _CT_READINGS[fact.reading]
    elif fact.reading in _READINGS:
        fr_m, fr_f, said_en = _READINGS[fact.reading]
        said_fr = fr_f if feminine else fr_m
    elif raw:
        said_fr, said_en = f"au résultat « {raw} » non reconnu", f"with unrecognised result “{raw}”"
    else:
        said_fr, said_en = "sans résultat", "without a result"
    if fact.status in _STATUSES:
        fr_m, fr_f, en = _STATUSES[fact.status]
        said_fr, said_en = f"{said_fr}, {fr_f if feminine else fr_m}", f"{said_en}, {en}"
    code = code_en = f"{fact.local_code} → {fact.code}" if fact.local_code else (fact.code or "")
    if fact.kind is Kind.CHEST_CT and result.value_coded is not None:
        finding = result.value_coded.display or result.value_coded.code
        code, code_en = f"{code} ; {finding}", f"{code}; {finding}"
    e = "e" if feminine else ""
    when_fr, when_en = f"non daté{e}", "undated"
    if (sampled := _day(result.collected_at)) is not None:
        fr, en = _dates(sampled)
        when_fr, when_en = f"prélevé{e} le {fr}", f"sampled on {en}"
        if fact.kind is Kind.CHEST_CT:
            when_fr, when_en = f"réalisé le {fr}", f"performed on {en}"
    elif (reported := _day(result.observed_at)) is not None:
        fr, en = _dates(reported)
        when_fr, when_en = f"rendu{e} le {fr}", f"reported on {en}"
    if fact.kind is Kind.SYMPTOMS:
        answer = {Interpretation.POSITIVE: ("oui", "yes"), Interpretation.NEGATIVE: ("non", "no")}
        yes_no = answer.get(fact.reading, (f"« {raw} »", f"“{raw}”"))
        return _t(f"signes cliniques : {yes_no[0]} ({code})",
                  f"clinical signs: {yes_no[1]} ({code_en})")
    if fact.kind is Kind.SYMPTOM_ONSET:
        if fact.onset is None:
            return _t(f"date de début des symptômes illisible (« {raw} », {code})",
                      f"unreadable symptom onset date (“{raw}”, {code})")
        fr, en = _dates(fact.onset)
        return _t(f"début des symptômes le {fr} ({code})", f"symptom onset on {en} ({code})")
    return _t(f"{name_fr} {said_fr} ({code}), {when_fr}",
              f"{name_en} {said_en} ({code_en}), {when_en}")


def _describe_imaging(fact: Fact, item: ImagingFinding) -> LocalizedText:
    said_fr, said_en = _CT_READINGS[fact.reading]
    name_fr, name_en = ("scanner thoracique", "chest CT") if fact.kind is Kind.CHEST_CT \
        else ("imagerie autre qu'un scanner thoracique", "imaging other than a chest CT")
    details = [d for d in (fact.code, item.finding.display or item.finding.code
                           if item.finding else None) if d]
    details_fr, details_en = list(details), list(details)
    if item.text:
        details_fr.append(f"« {item.text[:60]} »")
        details_en.append(f"“{item.text[:60]}”")
    if item.suggestive_of_covid is not None:
        attested = item.finding is None and item.exam is None
        details_fr.append("attesté" if attested else "signalé")
        details_en.append("attested" if attested else "reported")
    if details_fr:
        name_fr, name_en = f"{name_fr} {said_fr} ({' ; '.join(details_fr)})", \
            f"{name_en} {said_en} ({'; '.join(details_en)})"
    else:
        name_fr, name_en = f"{name_fr} {said_fr}", f"{name_en} {said_en}"
    if fact.day is None:
        return _t(name_fr, name_en)
    fr, en = _dates(fact.day)
    return _t(f"{name_fr}, réalisé le {fr}", f"{name_en}, performed on {en}")


def describe(fact: Fact) -> LocalizedText:
    """One line naming the evidence, what it says and its date, in French and English."""
    item = fact.item
    if isinstance(item, LabResult):
        return _describe_lab(fact, item)
    if isinstance(item, DiagnosisEvidence):
        label_fr, label_en = _DIAGNOSES.get(fact.kind, _DIAGNOSES[Kind.OTHER])
        status_fr, status_en = _DIAGNOSIS_STATUSES[item.status]
        text = _t(f"diagnostic {item.code.code} ({label_fr}), {status_fr}",
                  f"diagnosis {item.code.code} ({label_en}), {status_en}")
        if fact.day is not None:
            fr, en = _dates(fact.day)
            text = _t(f"{text.fr}, enregistré le {fr}", f"{text.en}, recorded on {en}")
        return text
    if isinstance(item, ImagingFinding):
        return _describe_imaging(fact, item)
    if fact.reading is Interpretation.NEGATIVE:
        return _t("pas de signes cliniques", "no clinical signs")
    text = _t("signes cliniques présents", "clinical signs present")
    if item.description:
        text = _t(f"{text.fr} ({item.description})", f"{text.en} ({item.description})")
    if fact.onset is not None:
        fr, en = _dates(fact.onset)
        text = _t(f"{text.fr}, début le {fr}", f"{text.en}, onset on {en}")
    return text


def _listing(facts: Sequence[Fact]) -> LocalizedText:
    lines = [describe(f) for f in facts]
    return _t(" ; ".join(x.fr for x in lines), "; ".join(x.en for x in lines))


# -- rules ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    reasons: tuple[LocalizedText, ...]
    used: tuple[Fact, ...]
    reference: tuple[date | None, ReferenceKind | None] = (None, None)
    requires_rtpcr_attestation: bool = False


@dataclass(frozen=True)
class Rule:
    """One row of the doctrine. ``match`` returns an :class:`Outcome` when the row applies."""

    id: str
    decision: Decision
    doctrine: str
    match: Callable[[Case], Outcome | None]
    explains: bool = True  # adds its reasons when another not-eligible rule decided


def _earliest(facts: Sequence[Fact]) -> Fact:
    return min(facts, key=lambda f: (f.day is None, f.day or date.min))


def _because(prefix: tuple[str, str], facts: Sequence[Fact], after: tuple[str, str] = ("", ""),
             ) -> LocalizedText:
    listed = _listing(facts)
    return _t(f"{prefix[0]}{listed.fr}{after[0]}", f"{prefix[1]}{listed.en}{after[1]}")


def _confirming_test(case: Case, kind: Kind, rule_fr: str, rule_en: str) -> Outcome | None:
    positives = case.find(kind, reading=Interpretation.POSITIVE, usable=True, recent=True)
    if not positives:
        return None
    test = _earliest(positives)
    reference = case.reference(test.day)
    if not case.recent(reference[0]):
        return None
    reason = _because((f"Cas confirmé{rule_fr} : ", f"Confirmed case{rule_en}: "), [test],
                      (".", "."))
    return Outcome((reason,), (test, *case.signs), reference)


def _naat_positive(case: Case) -> Outcome | None:
    return _confirming_test(case, Kind.NAAT, "", "")


def _antigen_accepted(case: Case) -> Outcome | None:
    if not case.policy.accept_antigen:
        return None
    return _confirming_test(
        case, Kind.ANTIGEN, " (tests antigéniques acceptés par la configuration)",
        " (antigen tests accepted by the configuration)")


def _confirmed_diagnosis(case: Case) -> Outcome | None:
    diagnoses = [f for f in case.find(Kind.DIAGNOSIS_CONFIRMED, recent=True) if f.status == "final"]
    if not diagnoses:
        return None
    if case.find(Kind.NAAT, reading=Interpretation.POSITIVE, usable=True):
        return None  # a positive RT-PCR on file decides by itself, including "too old"
    if case.policy.negative_naat_blocks_diagnosis and \
            case.find(Kind.NAAT, reading=Interpretation.NEGATIVE, usable=True, recent=True):
        return None
    reference = case.reference(None)
    if not case.recent(reference[0]):
        return None
    return Outcome(
        (_because(("Cas confirmé sur diagnostic médical : ", "Confirmed case on a medical "
                   "diagnosis: "), diagnoses, (".", ".")),
         _t("Aucune RT-PCR positive au dossier : le médecin doit attester qu'une RT-PCR "
            "SARS-CoV-2 positive a été réalisée.",
            "No positive RT-PCR on file: the physician must attest that a positive SARS-CoV-2 "
            "RT-PCR was performed.")),
        (*diagnoses, *case.signs), reference, requires_rtpcr_attestation=True,
    )


def _probable(case: Case) -> Outcome | None:
    if not case.signs:
        return None
    scans = case.find(Kind.CHEST_CT, reading=Interpretation.POSITIVE, usable=True, recent=True)
    if not scans:
        return None
    reference = case.reference(None)
    if not case.recent(reference[0]):
        return None
    scan = _earliest(scans)
    return Outcome(
        (_because(("Cas probable, signes cliniques et signes scanographiques thoraciques "
                   "évocateurs : ",
                   "Probable case, clinical signs and suggestive chest-CT signs: "),
                  [*case.signs, scan], (".", ".")),),
        (*case.signs, scan), reference,
    )


def _too_old(case: Case) -> Outcome | None:
    if case.window_start is None:
        return None
    timeless = replace(case, window_start=None)
    for rule in RULES:
        if rule.decision == "not_eligible":
            break
        outcome = rule.match(timeless)
        if outcome is None:
            continue
        stale = [f for f in outcome.used if not case.recent(f.day)]
        onset = outcome.reference[0]
        if not stale and onset is not None and not case.recent(onset):
            stale = [f for f in outcome.used if f.onset == onset]
        days, as_of = case.policy.contact_window_days, _dates(case.as_of)
        return Outcome(
            (_because(("Trop ancien : ", "Too old: "), stale or list(outcome.used), (
                f" — plus de {days} jours avant le {as_of[0]} : la période des contacts à "
                "prévenir est dépassée.",
                f" — more than {days} days before {as_of[1]}: the period of contacts to "
                "notify has passed.")),),
            outcome.used,
        )
    return None


def _simple(kinds: tuple[Kind, ...], prefix: tuple[str, str], after: tuple[str, str], *,
            reading: Interpretation | None = None, usable: bool = False,
            status: str | None = None, recent: bool = False) -> Callable[[Case], Outcome | None]:
    """A rule that matches when facts of these kinds exist, and names them. Explanations do
    not look at age by default: an old negative result is still a negative result."""

    def match(case: Case) -> Outcome | None:
        found = [f for f in case.find(*kinds, reading=reading, usable=usable, recent=recent)
                 if status is None or f.status == status]
        return Outcome((_because(prefix, found, after),), tuple(found)) if found else None

    return match


def _contested(case: Case) -> Outcome | None:
    found = [f for f in case.find(Kind.NAAT, Kind.ANTIGEN) if f.contested]
    if not found:
        return None
    return Outcome((_because(
        ("Résultats contradictoires pour le même prélèvement : ",
         "Conflicting results for the same sample: "), found,
        (" ; demandez au laboratoire le résultat validé.",
         "; ask the laboratory for the validated result.")),), tuple(found))


def _withdrawn(case: Case) -> Outcome | None:
    """A positive result the laboratory then deleted or corrected to something else."""
    found = [f for f in case.superseded if f.kind in (Kind.NAAT, Kind.ANTIGEN)
             and f.reading is Interpretation.POSITIVE and f.superseded_by is not None
             and not (f.superseded_by.reading is Interpretation.POSITIVE
                      and f.superseded_by.usable)]
    if not found:
        return None
    reasons = []
    for fact in found:
        by = fact.superseded_by
        assert by is not None
        if by.status == "D":
            reasons.append(_because(("Résultat supprimé par le laboratoire : ",
                                     "Result deleted by the laboratory: "), [fact], (".", ".")))
        else:
            was, now = describe(fact), describe(by)
            replaced = "remplacée" if _NAMES[fact.kind][1] else "remplacé"
            reasons.append(_t(f"Résultat corrigé par le laboratoire : {was.fr}, {replaced} par : "
                              f"{now.fr}.",
                              f"Result corrected by the laboratory: {was.en}, replaced by: "
                              f"{now.en}."))
    return Outcome(tuple(reasons), tuple(found))


def _deleted(case: Case) -> Outcome | None:
    """A deletion that did not withdraw a positive result (that one is ``result_withdrawn``)."""
    found = [f for f in case.find(Kind.NAAT, Kind.ANTIGEN) if f.status == "D" and not any(
        s.superseded_by is not None and s.superseded_by.item is f.item
        and s.reading is Interpretation.POSITIVE for s in case.superseded)]
    if not found:
        return None
    return Outcome((_because(("Résultat supprimé par le laboratoire : ",
                              "Result deleted by the laboratory: "), found, (".", ".")),),
                   tuple(found))


def _diagnosis_contradicted(case: Case) -> Outcome | None:
    if not case.policy.negative_naat_blocks_diagnosis:
        return None
    diagnoses = [f for f in case.find(Kind.DIAGNOSIS_CONFIRMED, recent=True) if f.status == "final"]
    negatives = case.find(Kind.NAAT, reading=Interpretation.NEGATIVE, usable=True, recent=True)
    if not diagnoses or not negatives or \
            case.find(Kind.NAAT, reading=Interpretation.POSITIVE, usable=True):
        return None
    return Outcome((_because(
        ("Diagnostic de COVID-19 avec virus identifié, mais seule une RT-PCR négative figure au "
         "dossier : ", "Diagnosis of COVID-19 with the virus identified, but only a negative "
         "RT-PCR is on file: "), [*diagnoses, *negatives],
        (". Si une RT-PCR positive existe, ajoutez ce résultat au dossier.",
         ". If a positive RT-PCR exists, add that result to the record.")),),
        (*diagnoses, *negatives))


def _diagnosis_not_final(case: Case) -> Outcome | None:
    found = [f for f in case.find(Kind.DIAGNOSIS_CONFIRMED) if f.status != "final"]
    if not found:
        return None
    return Outcome((_because(("Diagnostic non définitif : ", "Diagnosis not final: "), found, (
        " ; un code n'est proposé que sur un diagnostic définitif ou une RT-PCR positive.",
        "; a code is offered only on a final diagnosis or a positive RT-PCR.")),), tuple(found))


def _clinical_signs_only(case: Case) -> Outcome | None:
    if not case.signs:
        return None
    return Outcome((_because(("Signes cliniques sans signes scanographiques thoraciques : ",
                              "Clinical signs without chest-CT signs: "), case.signs, (
        " ; un scanner thoracique évocateur ou une RT-PCR positive rendrait le patient éligible.",
        "; a suggestive chest CT or a positive RT-PCR would make the patient eligible.")),),
        tuple(case.signs))


def _ct_value_alone(case: Case) -> Outcome | None:
    if case.find(Kind.NAAT):
        return None
    return _simple((Kind.CT_VALUE,), ("Valeur de Ct sans résultat qualitatif : ",
                                      "Ct value without a qualitative result: "),
                   (" ; une valeur de Ct n'est pas un résultat positif ou négatif.",
                    "; a Ct value is not a positive or negative result."))(case)


def _dated_later(case: Case) -> Outcome | None:
    found = [f for f in case.ignored if _relevant(f)]
    if not found:
        return None
    as_of = _dates(case.as_of)
    return Outcome((_because(
        (f"Daté après le {as_of[0]}, donc non pris en compte à cette date : ",
         f"Dated after {as_of[1]}, so not counted as of that day: "), found,
        (" ; vérifiez les dates du dossier.", "; check the dates on file.")),), tuple(found))


def _no_covid_evidence(case: Case) -> Outcome | None:
    if any(_relevant(f) for f in (*case.facts, *case.superseded, *case.ignored)):
        return None
    return Outcome((_t("Aucun élément concernant la COVID-19 (RT-PCR, diagnostic, signes "
                       "cliniques ou scanographiques).",
                       "Nothing about COVID-19 (RT-PCR, diagnosis, clinical or chest-CT signs)."),),
                   ())


def _insufficient(case: Case) -> Outcome | None:
    return Outcome((_t("Éléments insuffisants : ni RT-PCR positive, ni diagnostic définitif de "
                       "COVID-19 avec virus identifié, ni signes cliniques et scanographiques.",
                       "Not enough evidence: no positive RT-PCR, no final diagnosis of COVID-19 "
                       "with the virus identified, no clinical and chest-CT signs."),), ())


RULES: tuple[Rule, ...] = (
    Rule("naat_positive", "confirmed", "RT-PCR/NAAT positive, final or corrected", _naat_positive),
    Rule("antigen_positive", "confirmed", "antigen positive, when accept_antigen",
         _antigen_accepted),
    Rule("diagnosis_confirmed", "confirmed", "U07.1/U07.10/U07.12/U07.14/840539006, final",
         _confirmed_diagnosis),
    Rule("probable_clinical_ct", "probable", "clinical signs and chest-CT signs", _probable),
    Rule("too_old", "not_eligible", "result or onset older than the contact window", _too_old),
    Rule("result_contested", "not_eligible", "conflicting results, same sample", _contested),
    Rule("result_withdrawn", "not_eligible", "positive then corrected or deleted", _withdrawn),
    Rule("result_deleted", "not_eligible", "deleted result (OBX-11 D)", _deleted),
    Rule("result_preliminary", "not_eligible", "preliminary result (OBX-11 P)", _simple(
        (Kind.NAAT, Kind.ANTIGEN), ("Résultat préliminaire : ", "Preliminary result: "),
        (" ; attendre le résultat définitif du laboratoire.",
         "; wait for the laboratory's final result."), status="P")),
    Rule("diagnosis_contradicted", "not_eligible", "U07.1 with only a negative RT-PCR on file",
         _diagnosis_contradicted),
    Rule("diagnosis_not_final", "not_eligible", "U07.1 working or admitting", _diagnosis_not_final),
    Rule("antigen_only", "not_eligible", "antigen positive only", _simple(
        (Kind.ANTIGEN,), ("Test antigénique positif seul : ", "Positive antigen test only: "),
        (" ; la doctrine exige une RT-PCR positive (ou des signes cliniques et scanographiques).",
         "; the doctrine requires a positive RT-PCR (or clinical and chest-CT signs)."),
        reading=Interpretation.POSITIVE, usable=True)),
    Rule("chest_ct_without_signs", "not_eligible", "chest-CT signs, no clinical signs", _simple(
        (Kind.CHEST_CT,), ("Signes scanographiques sans signes cliniques renseignés : ",
                           "Chest-CT signs with no clinical signs on record: "),
        (" ; si le patient a des signes cliniques, renseignez-les (cas probable).",
         "; if the patient has clinical signs, record them (probable case)."),
        reading=Interpretation.POSITIVE, usable=True, recent=True)),
    Rule("suspected", "not_eligible", "U07.2/U07.11/U07.15/840544004 without CT", _simple(
        (Kind.DIAGNOSIS_SUSPECTED,), ("Cas suspect : ", "Suspected case: "),
        (" ; sans signes scanographiques thoraciques évocateurs ni RT-PCR positive, pas de code.",
         "; without suggestive chest-CT signs or a positive RT-PCR, no code."))),
    Rule("clinical_signs_only", "not_eligible", "clinical signs without CT", _clinical_signs_only),
    Rule("naat_negative", "not_eligible", "negative result", _simple(
        (Kind.NAAT, Kind.ANTIGEN), ("Résultat négatif : ", "Negative result: "), (".", "."),
        reading=Interpretation.NEGATIVE, usable=True)),
    Rule("naat_indeterminate", "not_eligible", "indeterminate result", _simple(
        (Kind.NAAT, Kind.ANTIGEN), ("Résultat ininterprétable : ", "Indeterminate result: "),
        (" ; seul un nouveau résultat positif rendrait le patient éligible.",
         "; only a new positive result would make the patient eligible."),
        reading=Interpretation.INDETERMINATE, usable=True)),
    Rule("result_unrecognised", "not_eligible", "result value not understood", _simple(
        (Kind.NAAT, Kind.ANTIGEN), ("Résultat non reconnu : ", "Result not recognised: "),
        (" ; vérifiez le compte rendu du laboratoire.", "; check the laboratory report."),
        reading=Interpretation.UNKNOWN, usable=True)),
    Rule("ct_value_only", "not_eligible", "Ct value without a qualitative result",
         _ct_value_alone),
    Rule("serology_only", "not_eligible", "serology only", _simple(
        (Kind.SEROLOGY,), ("Sérologie : ", "Serology: "),
        (" ; une sérologie ne confirme pas une infection en cours.",
         "; serology does not confirm a current infection."))),
    Rule("ruled_out", "not_eligible", "U07.13 contact / ruled out", _simple(
        (Kind.DIAGNOSIS_RULED_OUT,), ("COVID-19 écartée : ", "COVID-19 ruled out: "),
        (".", "."))),
    Rule("dated_later", "not_eligible", "a result dated after as_of does not count",
         _dated_later),
    Rule("no_covid_evidence", "not_eligible", "nothing about COVID-19", _no_covid_evidence,
         explains=False),
    Rule("insufficient_evidence", "not_eligible", "none of the above", _insufficient,
         explains=False),
)


# -- the decision --------------------------------------------------------------------------------


def _used(fact: Fact) -> EvidenceUsed:
    return EvidenceUsed(kind=fact.kind.value, summary=describe(fact),
                        source_ref=fact.item.source_ref, observed_on=fact.day)


def _unique(facts: Iterable[Fact]) -> list[Fact]:
    seen: list[Fact] = []
    for fact in facts:
        if not any(fact.item is s.item for s in seen):
            seen.append(fact)
    return seen


def _notes(case: Case, outcome: Outcome) -> list[LocalizedText]:
    """What an eligible decision also tells: the date for the app, other results on file."""
    reference, kind = outcome.reference
    if reference is None:
        notes = [_t("Date de début des symptômes inconnue : demandez-la au patient (sans "
                    "symptômes, la date du test).",
                    "Symptom onset date unknown: ask the patient (without symptoms, the test "
                    "date).")]
    else:
        fr, en = _dates(reference)
        what = ("date de début des symptômes", "symptom onset date") \
            if kind == "symptom_onset" else ("date du test", "test date")
        notes = [_t(f"Date à indiquer dans l'application : {what[0]}, le {fr}.",
                    f"Date to give in the app: {what[1]}, {en}.")]
    others = [f for f in case.find(Kind.NAAT) if f.reading is not Interpretation.POSITIVE]
    notes.extend(_because(("Également au dossier : ", "Also on file: "), [f], (".", "."))
                 for f in others)
    if (later := _dated_later(case)) is not None:
        notes.extend(later.reasons)
    return notes


def evaluate(
    evidence: Sequence[Evidence], policy: EligibilityPolicy | None = None,
    as_of: date | None = None,
) -> EligibilityDecision:
    """Decide whether one patient's evidence qualifies for a declaration code, as of a day.

    Pure: no I/O, and no exception on any well-typed evidence. ``as_of`` defaults to today in
    France.
    """
    policy = policy or EligibilityPolicy()
    as_of = as_of or datetime.now(PARIS).date()
    case = _build_case(evidence, policy, as_of)
    matches = ((rule, outcome) for rule in RULES if (outcome := rule.match(case)) is not None)
    rule, outcome = next(matches)  # insufficient_evidence always matches
    eligible = rule.decision != "not_eligible"
    reasons, used = list(outcome.reasons), list(outcome.used)
    if eligible:
        reasons.extend(_notes(case, outcome))
    else:
        for other, more in matches:
            # a later rule speaks only when it names evidence not already named
            if other.explains and any(f.item not in [u.item for u in used] for f in more.used):
                reasons.extend(r for r in more.reasons if r not in reasons)
                used.extend(more.used)
    reference, kind = outcome.reference if eligible else (None, None)
    return EligibilityDecision(
        decision=rule.decision, rule=rule.id, reasons=reasons,
        evidence=[_used(f) for f in _unique(used)], reference_date=reference,
        reference_date_kind=kind,
        requires_qr_attestation=rule.decision == "confirmed",
        requires_rtpcr_attestation=outcome.requires_rtpcr_attestation, as_of=as_of,
    )


def _relevant(fact: Fact) -> bool:
    if fact.kind in (Kind.SYMPTOMS, Kind.CHEST_CT):
        return fact.reading is Interpretation.POSITIVE
    return fact.kind is not Kind.OTHER


def is_covid_relevant(
    evidence: Sequence[Evidence], policy: EligibilityPolicy | None = None
) -> bool:
    """Whether any piece could bear on a decision: a SARS-CoV-2 test, a COVID-19 diagnosis,
    clinical signs or a suggestive chest CT. Adapters acknowledge other messages unstored."""
    policy = policy or EligibilityPolicy()
    return any(_relevant(read_fact(item, policy)) for item in evidence)
