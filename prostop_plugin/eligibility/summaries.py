"""Describing evidence to the physician: one line per fact, and the EvidenceUsed summaries."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from prostop_plugin.eligibility.case import Fact, Kind
from prostop_plugin.eligibility.reading import Interpretation, paris_day, text_words
from prostop_plugin.models import (
    DiagnosisEvidence,
    EvidenceUsed,
    ImagingFinding,
    LabResult,
    LocalizedText,
)
from prostop_plugin.texts.formatting import format_date


def fr_en(fr: str, en: str) -> LocalizedText:
    return LocalizedText(fr=fr, en=en)


def date_phrase(day: date) -> tuple[str, str]:
    return format_date(day, "fr"), format_date(day, "en")


# name (fr), feminine in French, name (en)
KIND_NAMES: dict[Kind, tuple[str, bool, str]] = {
    Kind.NAAT: ("RT-PCR SARS-CoV-2", True, "SARS-CoV-2 RT-PCR"),
    Kind.ANTIGEN: ("test antigénique SARS-CoV-2", False, "SARS-CoV-2 antigen test"),
    Kind.SEROLOGY: ("sérologie SARS-CoV-2", True, "SARS-CoV-2 serology"),
    Kind.CT_VALUE: ("valeur de Ct", True, "Ct value"),
    Kind.CHEST_CT: ("scanner thoracique", False, "chest CT"),
    Kind.UNSPECIFIED: ("résultat SARS-CoV-2 (technique non précisée)", False,
                       "SARS-CoV-2 result (technique not stated)"),
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
#: a diagnosis read from words that do not say the virus was identified ("COVID-19")
_SUSPECTED_IN_WORDS = ("COVID-19 sans virus identifié, ou suspicion",
                       "COVID-19 without the virus identified, or suspected")
_DIAGNOSIS_STATUSES = {
    "final": ("définitif", "final"), "working": ("provisoire", "working (provisional)"),
    "admitting": ("d'admission", "admitting"), "ruled_out": ("écarté", "ruled out"),
}


def quoted(text: str, limit: int = 80) -> tuple[str, str]:
    """A sender's words as the physician reads them: « … » in French, “…” in English."""
    text = " ".join(text.split())
    text = text if len(text) <= limit else text[:limit - 1] + "…"
    return f"« {text} »", f"“{text}”"


def recognition(fact: Fact, result: LabResult, feminine: bool) -> tuple[str, str]:
    """Says that words, not a known code, decided what a result is: the label, the order's
    label or the result's words that did, quoted, so that the physician can judge them."""
    reading = fact.recognised
    assert reading is not None
    label = quoted(reading.label)
    fr = f"reconnu{'e' if feminine else ''} d'après le libellé {label[0]}"
    en = f"recognised from the label {label[1]}"
    if reading.panel:
        panel = quoted(reading.panel)
        fr, en = f"{fr} et celui de la demande {panel[0]}", f"{en} and the order's {panel[1]}"
    if (raw := _raw_value(result)) and fact.reading is not Interpretation.UNKNOWN:
        said = quoted(raw, 60)  # (an unrecognised value is quoted already)
        fr, en = f"{fr} ; résultat rendu : {said[0]}", f"{en}; result as sent: {said[1]}"
    return fr, en


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
    name_fr, feminine, name_en = KIND_NAMES.get(fact.kind, KIND_NAMES[Kind.OTHER])
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
    if fact.recognised is not None:
        words_fr, words_en = recognition(fact, result, feminine)
        if fact.local_code is None:  # a LOINC code the configuration's lists do not hold
            code = f"LOINC {result.test.code}, hors des listes de la configuration ; {words_fr}"
            code_en = f"LOINC {result.test.code}, not in the configuration's lists; {words_en}"
        elif fact.local_code == fact.recognised.label:  # no code at all: the label stood for it
            code, code_en = words_fr, words_en
        else:
            code = f"code local {fact.local_code} ; {words_fr}"
            code_en = f"local code {fact.local_code}; {words_en}"
    if fact.kind is Kind.CHEST_CT and result.value_coded is not None:
        finding = result.value_coded.display or result.value_coded.code
        code, code_en = f"{code} ; {finding}", f"{code}; {finding}"
    e = "e" if feminine else ""
    when_fr, when_en = f"non daté{e}", "undated"
    if (sampled := paris_day(result.collected_at)) is not None:
        fr, en = date_phrase(sampled)
        when_fr, when_en = f"prélevé{e} le {fr}", f"sampled on {en}"
        if fact.kind is Kind.CHEST_CT:
            when_fr, when_en = f"réalisé le {fr}", f"performed on {en}"
    elif (reported := paris_day(result.observed_at)) is not None:
        fr, en = date_phrase(reported)
        when_fr, when_en = f"rendu{e} le {fr}", f"reported on {en}"
    if fact.kind is Kind.SYMPTOMS:
        answer = {Interpretation.POSITIVE: ("oui", "yes"), Interpretation.NEGATIVE: ("non", "no")}
        yes_no = answer.get(fact.reading, (f"« {raw} »", f"“{raw}”"))
        return fr_en(f"signes cliniques : {yes_no[0]} ({code})",
                  f"clinical signs: {yes_no[1]} ({code_en})")
    if fact.kind is Kind.SYMPTOM_ONSET:
        if fact.onset is None:
            return fr_en(f"date de début des symptômes illisible (« {raw} », {code})",
                      f"unreadable symptom onset date (“{raw}”, {code})")
        fr, en = date_phrase(fact.onset)
        return fr_en(f"début des symptômes le {fr} ({code})", f"symptom onset on {en} ({code})")
    return fr_en(f"{name_fr} {said_fr} ({code}), {when_fr}",
              f"{name_en} {said_en} ({code_en}), {when_en}")


def _describe_imaging(fact: Fact, item: ImagingFinding) -> LocalizedText:
    """Said once: a chest CT is named in words (its exam code adds nothing), the finding once
    (a report text that repeats it is left out), an attestation as the physician's."""
    said_fr, said_en = _CT_READINGS[fact.reading]
    chest_ct = fact.kind is Kind.CHEST_CT
    name_fr, name_en = ("scanner thoracique", "chest CT") if chest_ct \
        else ("imagerie autre qu'un scanner thoracique", "imaging other than a chest CT")
    finding = (item.finding.display or item.finding.code) if item.finding else None
    details = [d for d in (None if chest_ct else fact.code, finding) if d]
    details_fr, details_en = list(details), list(details)
    if item.text and not (finding and text_words(item.text) == text_words(finding)):
        details_fr.append(f"« {item.text[:60]} »")
        details_en.append(f"“{item.text[:60]}”")
    if item.suggestive_of_covid is not None and item.finding is None and item.exam is None:
        details_fr.append("attesté par le médecin")
        details_en.append("attested by the physician")
    if details_fr:
        name_fr, name_en = f"{name_fr} {said_fr} ({' ; '.join(details_fr)})", \
            f"{name_en} {said_en} ({'; '.join(details_en)})"
    else:
        name_fr, name_en = f"{name_fr} {said_fr}", f"{name_en} {said_en}"
    if fact.day is None:
        return fr_en(name_fr, name_en)
    fr, en = date_phrase(fact.day)
    return fr_en(f"{name_fr}, réalisé le {fr}", f"{name_en}, performed on {en}")


def describe(fact: Fact) -> LocalizedText:
    """One line naming the evidence, what it says and its date, in French and English."""
    item = fact.item
    if isinstance(item, LabResult):
        return _describe_lab(fact, item)
    if isinstance(item, DiagnosisEvidence):
        label_fr, label_en = _DIAGNOSES.get(fact.kind, _DIAGNOSES[Kind.OTHER])
        status_fr, status_en = _DIAGNOSIS_STATUSES[item.status]
        named = item.code.code if item.code is not None else ""
        if fact.recognised is not None:
            if fact.kind is Kind.DIAGNOSIS_SUSPECTED:
                label_fr, label_en = _SUSPECTED_IN_WORDS
            words = quoted(fact.recognised.label)
            local = f"code local {named}, " if named else ""
            local_en = f"local code {named}, " if named else ""
            text = fr_en(f"diagnostic {words[0]} ({local}{label_fr} : reconnu d'après le "
                         f"libellé), {status_fr}",
                         f"diagnosis {words[1]} ({local_en}{label_en}: recognised from the "
                         f"label), {status_en}")
        else:
            text = fr_en(f"diagnostic {named} ({label_fr}), {status_fr}",
                         f"diagnosis {named} ({label_en}), {status_en}")
        if fact.day is not None:
            fr, en = date_phrase(fact.day)
            text = fr_en(f"{text.fr}, enregistré le {fr}", f"{text.en}, recorded on {en}")
        return text
    if isinstance(item, ImagingFinding):
        return _describe_imaging(fact, item)
    if fact.reading is Interpretation.NEGATIVE:
        return fr_en("pas de signes cliniques", "no clinical signs")
    text = fr_en("signes cliniques présents", "clinical signs present")
    if item.description:
        text = fr_en(f"{text.fr} ({item.description})", f"{text.en} ({item.description})")
    if fact.onset is not None:
        fr, en = date_phrase(fact.onset)
        text = fr_en(f"{text.fr}, début le {fr}", f"{text.en}, onset on {en}")
    return text


def listing(facts: Sequence[Fact]) -> LocalizedText:
    lines = [describe(f) for f in facts]
    return fr_en(" ; ".join(x.fr for x in lines), "; ".join(x.en for x in lines))



def evidence_used(fact: Fact) -> EvidenceUsed:
    return EvidenceUsed(kind=fact.kind.value, summary=describe(fact),
                        source_ref=fact.item.source_ref, observed_on=fact.day)
