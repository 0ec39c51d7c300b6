"""Reading one lab result: its test (LOINC, local codes), what it says, onset dates, days."""

from __future__ import annotations

import enum
import functools
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from prostop_plugin.eligibility.labels import LabelReading, read_label
from prostop_plugin.eligibility.policy import EligibilityPolicy, default_policy
from prostop_plugin.models import CodeSystem, Coding, LabResult
from prostop_plugin.values import PARIS


class LabCategory(enum.StrEnum):
    NAAT = "naat"
    ANTIGEN = "antigen"
    SEROLOGY = "serology"
    CT_VALUE = "ct_value"
    CHEST_CT = "chest_ct"
    SYMPTOMS_QUESTION = "symptoms_question"
    SYMPTOM_ONSET = "symptom_onset"
    UNSPECIFIED = "unspecified"  # named SARS-CoV-2 in words, technique not recognised
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


@functools.lru_cache(maxsize=4096)  # the policy's terms are normalised once, not per result
def text_words(text: str) -> tuple[str, ...]:
    """Upper-case words without accents: "Non détecté" -> ("NON", "DETECTE")."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).upper()
    return tuple(re.findall(r"[A-Z0-9]+", plain))


@functools.lru_cache(maxsize=64)  # one per list of terms: compiled once, not per result
def _terms_pattern(terms: tuple[str, ...]) -> tuple[re.Pattern[str] | None, frozenset[str]]:
    """Whole-word matching of a list of terms, and the terms that are a symbol ('+', '-')."""
    phrases = sorted({" ".join(text_words(t)) for t in terms} - {""}, key=len, reverse=True)
    symbols = frozenset(t.strip() for t in terms if t.strip() and not text_words(t))
    if not phrases:
        return None, symbols
    pattern = r"(?<![A-Z0-9])(?:" + "|".join(re.escape(p) for p in phrases) + r")(?![A-Z0-9])"
    return re.compile(pattern), symbols


def _mentions(text: str, joined: str, terms: list[str]) -> bool:
    pattern, symbols = _terms_pattern(tuple(terms))
    if symbols and (bare := text.strip()) and set(bare) <= set("".join(symbols)) \
            and len(bare) <= 4 and any(s in bare for s in symbols):
        return True  # "+", "+++", "-": a value written as a sign
    return pattern is not None and pattern.search(joined) is not None


def interpret_text(text: str | None, policy: EligibilityPolicy | None = None) -> Interpretation:
    """Read a result written in words ("POSITIF", "Non détecté", "ININTERPRETABLE", "+")."""
    policy = policy or default_policy()
    words = text_words(text or "")
    raw = (text or "").strip()
    if not words and not raw:
        return Interpretation.UNKNOWN
    joined = " ".join(words)
    if _mentions(raw, joined, policy.indeterminate_texts):
        return Interpretation.INDETERMINATE
    if _mentions(raw, joined, policy.negative_texts):
        return Interpretation.NEGATIVE
    if _mentions(raw, joined, policy.positive_texts) and not _NEGATIONS.intersection(words):
        return Interpretation.POSITIVE
    return Interpretation.UNKNOWN


def upper_text(codes: Iterable[str]) -> set[str]:
    return {c.strip().upper() for c in codes}


def upper_set(codes: Iterable[str]) -> frozenset[str]:
    """:func:`upper_text` as a frozenset, kept by content: the policy's lists are looked up
    several times per result, and building the set each time cost more than the lookup."""
    return _upper_set(tuple(codes))


@functools.lru_cache(maxsize=1024)
def _upper_set(codes: tuple[str, ...]) -> frozenset[str]:
    return frozenset(upper_text(codes))


def _coded_reading(coding: Coding, policy: EligibilityPolicy) -> Interpretation:
    if coding.system == CodeSystem.SNOMED:
        code = coding.code.upper()
        for codes, reading in (
            (policy.positive_snomed, Interpretation.POSITIVE),
            (policy.negative_snomed, Interpretation.NEGATIVE),
            (policy.indeterminate_snomed, Interpretation.INDETERMINATE),
        ):
            if code in upper_set(codes):
                return reading
    return Interpretation.UNKNOWN


def _result_reading(result: LabResult, policy: EligibilityPolicy) -> Interpretation:
    """A qualitative result from its coded value and its words; when they disagree, unknown."""
    readings: set[Interpretation] = set()
    if result.value_coded is not None:
        coded = _coded_reading(result.value_coded, policy)
        if coded is Interpretation.UNKNOWN:  # a local code: its display text may still say it
            coded = interpret_text(result.value_coded.display, policy)
        if coded is Interpretation.UNKNOWN and result.value_coded.system != CodeSystem.SNOMED:
            coded = interpret_text(result.value_coded.code, policy)  # POS, NEG, DET, ND (0078)
        readings.add(coded)
    if result.value_text:
        readings.add(interpret_text(result.value_text, policy))
    readings.discard(Interpretation.UNKNOWN)
    return readings.pop() if len(readings) == 1 else Interpretation.UNKNOWN


def _yes_no(result: LabResult, policy: EligibilityPolicy) -> Interpretation:
    answers = [result.value_coded.code if result.value_coded else None, result.value_text]
    for answer in answers:
        words = text_words(answer or "")
        if not words:
            continue
        if any(text_words(t) in (words[:1], words) for t in policy.symptom_yes_texts):
            return Interpretation.POSITIVE
        if any(text_words(t) in (words[:1], words) for t in policy.symptom_no_texts):
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
            finding.code.upper() in upper_set(policy.chest_ct_finding_snomed)
        return Interpretation.POSITIVE if listed and flag != "N" else Interpretation.UNKNOWN
    if flag == "N":
        return Interpretation.NEGATIVE
    if flag and flag in upper_set(policy.chest_ct_abnormal_flags):
        return Interpretation.POSITIVE
    return Interpretation.UNKNOWN


def resolve_loinc(coding: Coding | None, policy: EligibilityPolicy | None = None,
                  sender: str | None = None) -> str | None:
    """The LOINC code a test coding stands for: itself, or the admin's local-code map's
    mapping of it (for this sender, or for any sender)."""
    if coding is None:
        return None
    if coding.system == CodeSystem.LOINC:
        return coding.code
    return (policy or default_policy()).local_code_map().lookup(sender, coding)


def category_of(loinc: str | None, policy: EligibilityPolicy) -> LabCategory:
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
        if loinc.upper() in upper_set(codes):
            return category
    return LabCategory.OTHER


@dataclass(frozen=True)
class IdentifiedTest:
    """What test a result is, and what said so."""

    category: LabCategory
    loinc: str | None
    local: str | None  # the lab's own code, when LOINC came from the map or none is known
    recognised: LabelReading | None = None  # set when the words of the result decided


def test_code_of(result: LabResult, policy: EligibilityPolicy) -> IdentifiedTest:
    """Category and LOINC code, looking at the first and the alternate test codes, then (when
    neither is a code the policy knows, nor one the admin mapped) at the result's words."""
    found: list[IdentifiedTest] = []
    mapped = False
    for coding in (result.test, result.test_alternate):
        loinc = resolve_loinc(coding, policy, result.sender)
        if coding is not None and loinc is not None:
            local = None if coding.system == CodeSystem.LOINC else coding.code
            mapped = mapped or local is not None
            found.append(IdentifiedTest(category_of(loinc, policy), loinc, local))
    known = [t for t in found if t.category is not LabCategory.OTHER]
    if known:
        return known[0]
    if not mapped and (reading := _words_of(result, policy)) is not None:
        local = next((c.code for c in (result.test, result.test_alternate)
                      if c is not None and c.system != CodeSystem.LOINC), None)
        return IdentifiedTest(LabCategory(reading.category), found[0].loinc if found else None,
                        local, reading)
    return (found or [IdentifiedTest(LabCategory.OTHER, None, None)])[0]


_TEXT_CATEGORIES = frozenset({LabCategory.NAAT, LabCategory.ANTIGEN, LabCategory.SEROLOGY})


def _words_of(result: LabResult, policy: EligibilityPolicy) -> LabelReading | None:
    """What the test's label (and its result's and its order's words) say it is."""
    labels = [c.display for c in (result.test, result.test_alternate) if c and c.display]
    if not labels:
        return None
    panel, panel_category = result.panel, None
    if panel is not None:
        known = category_of(resolve_loinc(panel, policy, result.sender), policy)
        panel_category = known.value if known in _TEXT_CATEGORIES else None
    value = result.value_text or (result.value_coded.display if result.value_coded else None)
    return read_label(" ; ".join(dict.fromkeys(labels)), value,
                      (panel.display or panel.code) if panel else None, panel_category)


def classify_lab_result(result: LabResult, policy: EligibilityPolicy | None = None) -> LabCategory:
    """What kind of SARS-CoV-2 observation a lab result is (``other`` when none)."""
    return test_code_of(result, policy or default_policy()).category


def interpret_lab_result(
    result: LabResult, policy: EligibilityPolicy | None = None, *,
    category: LabCategory | None = None,
) -> Interpretation:
    """What a lab result says. A Ct value or a date is never a result: always unknown.
    ``category``: what :func:`test_code_of` found the result to be, when it was asked already."""
    policy = policy or default_policy()
    if category is None:
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


def paris_day(moment: datetime | None) -> date | None:
    """The calendar day in France; a time without zone is taken as French local time."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        return moment.date()
    try:
        return moment.astimezone(PARIS).date()
    except (OverflowError, ValueError):
        return moment.date()


def aware_instant(moment: datetime | None) -> datetime:
    """A comparable instant: zone-less times are French local time, unknown sorts first."""
    if moment is None:
        return datetime.min.replace(tzinfo=UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=PARIS)
