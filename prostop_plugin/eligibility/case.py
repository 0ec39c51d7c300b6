"""The case: evidence read as facts, settled (corrections, deletions, as_of), for the rules."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Literal

from prostop_plugin.eligibility.diagnosis_text import DiagnosisReading, read_diagnosis_text
from prostop_plugin.eligibility.labels import LabelReading
from prostop_plugin.eligibility.policy import EligibilityPolicy
from prostop_plugin.eligibility.reading import (
    Interpretation,
    LabCategory,
    aware_instant,
    category_of,
    interpret_lab_result,
    paris_day,
    parse_onset_date,
    resolve_loinc,
    test_code_of,
    upper_set,
)
from prostop_plugin.models import (
    CodeSystem,
    Coding,
    DiagnosisEvidence,
    Evidence,
    ImagingFinding,
    LabResult,
    SymptomEvidence,
)

ReferenceKind = Literal["symptom_onset", "test_date"]


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
    UNSPECIFIED = "unspecified"  # a SARS-CoV-2 result whose technique is not recognised
    OTHER = "other"


_LAB_KINDS = {
    LabCategory.NAAT: Kind.NAAT, LabCategory.ANTIGEN: Kind.ANTIGEN,
    LabCategory.SEROLOGY: Kind.SEROLOGY, LabCategory.CT_VALUE: Kind.CT_VALUE,
    LabCategory.CHEST_CT: Kind.CHEST_CT, LabCategory.SYMPTOMS_QUESTION: Kind.SYMPTOMS,
    LabCategory.SYMPTOM_ONSET: Kind.SYMPTOM_ONSET, LabCategory.UNSPECIFIED: Kind.UNSPECIFIED,
    LabCategory.OTHER: Kind.OTHER,
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
    recognised: LabelReading | None = None  # the words that decided what it is, when no code did

    @property
    def usable(self) -> bool:
        """A final or corrected result, not contradicted by an equally recent one."""
        return self.status in ("F", "C") and not self.contested


def _lab_fact(result: LabResult, policy: EligibilityPolicy) -> Fact:
    test = test_code_of(result, policy)
    kind = _LAB_KINDS[test.category]
    days = [d for d in (paris_day(result.collected_at), paris_day(result.observed_at)) if d]
    onset = None
    if kind is Kind.SYMPTOM_ONSET:
        onset = parse_onset_date(result.value_text or (
            result.value_coded.code if result.value_coded else None))
    return Fact(
        item=result, kind=kind,
        reading=interpret_lab_result(result, policy, category=test.category),
        day=onset or (days[0] if days else None),
        known_on=max([*days, *([onset] if onset else [])], default=None),
        status=result.status, code=test.loinc or result.test.code, local_code=test.local,
        onset=onset, recognised=test.recognised,
    )


def _coded_diagnosis_kind(coding: Coding, policy: EligibilityPolicy) -> Kind:
    if coding.system == CodeSystem.SNOMED:
        code = coding.code.upper()
        if code in upper_set(policy.confirmed_snomed):
            return Kind.DIAGNOSIS_CONFIRMED
        if code in upper_set(policy.suspected_snomed):
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


#: code systems whose codes mean what the standard says; any other is the sender's own
_CODE_SYSTEMS = frozenset({CodeSystem.CIM10, CodeSystem.SNOMED, CodeSystem.LOINC})
_READ_DIAGNOSES = {
    DiagnosisReading.CONFIRMED: Kind.DIAGNOSIS_CONFIRMED,
    DiagnosisReading.SUSPECTED: Kind.DIAGNOSIS_SUSPECTED,
    DiagnosisReading.RULED_OUT: Kind.DIAGNOSIS_RULED_OUT,
    DiagnosisReading.UNRELATED: Kind.OTHER,
}


def _diagnosis_kind(item: DiagnosisEvidence,
                    policy: EligibilityPolicy) -> tuple[Kind, LabelReading | None]:
    """A known code decides; a local code or none at all leaves it to the words."""
    if item.code is not None:
        kind = _coded_diagnosis_kind(item.code, policy)
        if kind is not Kind.OTHER or item.code.system in _CODE_SYSTEMS:
            return kind, None  # a code of a known system says what it says
    words = item.label()
    if not words:
        return Kind.OTHER, None
    reading, cim10 = read_diagnosis_text(words)
    if reading is DiagnosisReading.CODED and cim10 is not None:
        kind = _coded_diagnosis_kind(Coding(code=cim10, system=CodeSystem.CIM10), policy)
    else:
        kind = _READ_DIAGNOSES[reading]
    return kind, (LabelReading(kind.value, words) if kind is not Kind.OTHER else None)


def _imaging_fact(finding: ImagingFinding, policy: EligibilityPolicy) -> Fact:
    exam = resolve_loinc(finding.exam, policy)
    is_chest_ct = finding.exam is None or category_of(exam, policy) is LabCategory.CHEST_CT
    if finding.suggestive_of_covid is not None:
        reading = Interpretation(
            "positive" if finding.suggestive_of_covid else "negative")
    elif finding.finding is not None and finding.finding.system == CodeSystem.SNOMED and \
            finding.finding.code.upper() in upper_set(policy.chest_ct_finding_snomed):
        reading = Interpretation.POSITIVE
    else:
        reading = Interpretation.UNKNOWN
    day = paris_day(finding.observed_at)
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
        day = paris_day(item.recorded_at)
        kind, words = _diagnosis_kind(item, policy)
        if item.status == "ruled_out" and kind is not Kind.OTHER:
            kind = Kind.DIAGNOSIS_RULED_OUT
        return Fact(item=item, kind=kind, reading=Interpretation.UNKNOWN, day=day, known_on=day,
                    status=item.status, code=item.code.code if item.code else None,
                    recognised=words)
    symptoms: SymptomEvidence = item
    reading = Interpretation.POSITIVE if symptoms.present else Interpretation.NEGATIVE
    onset = symptoms.onset_date if symptoms.present else None
    return Fact(item=symptoms, kind=Kind.SYMPTOMS, reading=reading, day=onset, known_on=onset,
                onset=onset)


#: how recent a result is; the time part is the instant (offset removed), so ranks of results
#: written with and without a zone compare as one consistent order (a zone-less time in the hour
#: skipped in spring, which does not exist in France, counts at the instant it would have been)
Rank = tuple[int, timedelta, int]


def result_rank(fact: Fact) -> Rank:
    """How recent a result is: amendments beat finals beat preliminaries, then time;
    a deletion beats a correction stamped the same instant."""
    level = {"C": 2, "D": 2, "F": 1}.get(fact.status or "", 0)
    observed = aware_instant(fact.item.observed_at if isinstance(fact.item, LabResult) else None)
    # an offset from datetime.min, not a UTC datetime: that could not exist for year 1 or 9999
    since = observed.replace(tzinfo=None) - datetime.min - (observed.utcoffset() or timedelta())
    return level, since, 1 if fact.status == "D" else 0


@dataclass
class _Top:
    """The most recent rank among some results, what those results say, and the first of them."""

    rank: Rank
    readings: set[Interpretation]
    first: int  # index of the first result (in the canonical order) holding that rank

    def add(self, rank: Rank, reading: Interpretation, index: int) -> None:
        if rank > self.rank:
            self.rank, self.readings, self.first = rank, {reading}, index
        elif rank == self.rank:
            self.readings.add(reading)
            self.first = min(self.first, index)

    def merged(self, other: _Top | None) -> _Top:
        if other is None or other.rank < self.rank:
            return self
        if other.rank > self.rank:
            return other
        return _Top(self.rank, self.readings | other.readings, min(self.first, other.first))


def settle_results(facts: list[Fact]) -> tuple[list[Fact], list[Fact]]:
    """Step 2: split lab results into effective ones and those superseded (``superseded_by``).

    Results are peers when they are the same test (kind and code) on the same sample: the same
    collection instant, or no collection time on either side (then a peer of every sample).
    The most recent rank among a result's peers wins; equally recent peers saying different
    things are contested. Linear: each result is ranked once, into per-test and per-sample tops.
    """
    labs = [f for f in facts if isinstance(f.item, LabResult)]
    effective: list[Fact] = [f for f in facts if not isinstance(f.item, LabResult)]
    superseded: list[Fact] = []
    ranks = [result_rank(f) for f in labs]
    by_test: dict[tuple[Kind, str | None], _Top] = {}  # every sample of the test
    # one sample of the test; None: the results without a collection time
    by_sample: dict[tuple[Kind, str | None, datetime | None], _Top] = {}
    samples: list[tuple[Kind, str | None, datetime | None]] = []
    for index, (fact, rank) in enumerate(zip(labs, ranks, strict=True)):
        assert isinstance(fact.item, LabResult)
        collected = fact.item.collected_at
        sample = (fact.kind, fact.code, None if collected is None else aware_instant(collected))
        samples.append(sample)
        by_test.setdefault(sample[:2], _Top(rank, set(), index)).add(rank, fact.reading, index)
        by_sample.setdefault(sample, _Top(rank, set(), index)).add(rank, fact.reading, index)
    for fact, rank, sample in zip(labs, ranks, samples, strict=True):
        kind, code, instant = sample
        peers = by_test[kind, code] if instant is None else \
            by_sample[sample].merged(by_sample.get((kind, code, None)))
        if rank == peers.rank:
            contested = len(peers.readings) > 1
            # a copy only when it changes (an equal fact: the same item, the same fields)
            effective.append(fact if fact.contested == contested
                             else replace(fact, contested=contested))
        else:
            superseded.append(replace(fact, superseded_by=labs[peers.first]))
    return effective, superseded


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


def build_case(evidence: Sequence[Evidence], policy: EligibilityPolicy, as_of: date) -> Case:
    ordered = sorted(evidence, key=lambda item: item.model_dump_json())
    facts = [read_fact(item, policy) for item in ordered]
    known = [f for f in facts if f.known_on is None or f.known_on <= as_of]
    ignored = [f for f in facts if f.known_on is not None and f.known_on > as_of]
    effective, superseded = settle_results(known)
    try:
        window_start: date | None = as_of - timedelta(days=policy.contact_window_days)
    except OverflowError:
        window_start = date.min
    return Case(tuple(effective), tuple(superseded), tuple(ignored), as_of, policy, window_start)


def relevant_facts(fact: Fact) -> bool:
    if fact.kind in (Kind.SYMPTOMS, Kind.CHEST_CT):
        return fact.reading is Interpretation.POSITIVE
    return fact.kind is not Kind.OTHER
