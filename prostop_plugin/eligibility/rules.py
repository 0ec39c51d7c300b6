"""The doctrine as a table: RULES, tried in order; the first that matches decides."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date

from prostop_plugin.eligibility.case import Case, Fact, Kind, ReferenceKind, relevant_facts
from prostop_plugin.eligibility.reading import Interpretation
from prostop_plugin.eligibility.summaries import (
    KIND_NAMES,
    date_phrase,
    describe,
    fr_en,
    listing,
)
from prostop_plugin.models import Decision, LocalizedText


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


def because(prefix: tuple[str, str], facts: Sequence[Fact], after: tuple[str, str] = ("", ""),
             ) -> LocalizedText:
    listed = listing(facts)
    return fr_en(f"{prefix[0]}{listed.fr}{after[0]}", f"{prefix[1]}{listed.en}{after[1]}")


def _confirming_test(case: Case, kind: Kind, rule_fr: str, rule_en: str) -> Outcome | None:
    positives = case.find(kind, reading=Interpretation.POSITIVE, usable=True, recent=True)
    if not positives:
        return None
    test = _earliest(positives)
    reference = case.reference(test.day)
    if not case.recent(reference[0]):
        return None
    reason = because((f"Cas confirmé{rule_fr} : ", f"Confirmed case{rule_en}: "), [test],
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
        (because(("Cas confirmé sur diagnostic médical : ", "Confirmed case on a medical "
                   "diagnosis: "), diagnoses, (".", ".")),
         fr_en("Aucune RT-PCR positive au dossier : le médecin doit attester qu'une RT-PCR "
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
        (because(("Cas probable, signes cliniques et signes scanographiques thoraciques "
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
        days, as_of = case.policy.contact_window_days, date_phrase(case.as_of)
        return Outcome(
            (because(("Trop ancien : ", "Too old: "), stale or list(outcome.used), (
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
        return Outcome((because(prefix, found, after),), tuple(found)) if found else None

    return match


def _contested(case: Case) -> Outcome | None:
    found = [f for f in case.find(Kind.NAAT, Kind.ANTIGEN) if f.contested]
    if not found:
        return None
    return Outcome((because(
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
            reasons.append(because(("Résultat supprimé par le laboratoire : ",
                                     "Result deleted by the laboratory: "), [fact], (".", ".")))
        else:
            was, now = describe(fact), describe(by)
            replaced = "remplacée" if KIND_NAMES[fact.kind][1] else "remplacé"
            reasons.append(fr_en(
                f"Résultat corrigé par le laboratoire : {was.fr}, {replaced} par : {now.fr}.",
                f"Result corrected by the laboratory: {was.en}, replaced by: {now.en}.",
            ))
    return Outcome(tuple(reasons), tuple(found))


def _deleted(case: Case) -> Outcome | None:
    """A deletion that did not withdraw a positive result (that one is ``result_withdrawn``)."""
    withdrawing = {id(s.superseded_by.item) for s in case.superseded
                   if s.superseded_by is not None and s.reading is Interpretation.POSITIVE}
    found = [f for f in case.find(Kind.NAAT, Kind.ANTIGEN)
             if f.status == "D" and id(f.item) not in withdrawing]
    if not found:
        return None
    return Outcome((because(("Résultat supprimé par le laboratoire : ",
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
    return Outcome((because(
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
    return Outcome((because(("Diagnostic non définitif : ", "Diagnosis not final: "), found, (
        " ; un code n'est proposé que sur un diagnostic définitif ou une RT-PCR positive.",
        "; a code is offered only on a final diagnosis or a positive RT-PCR.")),), tuple(found))


def _clinical_signs_only(case: Case) -> Outcome | None:
    if not case.signs:
        return None
    return Outcome((because(("Signes cliniques sans signes scanographiques thoraciques : ",
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


def dated_later(case: Case) -> Outcome | None:
    found = [f for f in case.ignored if relevant_facts(f)]
    if not found:
        return None
    as_of = date_phrase(case.as_of)
    return Outcome((because(
        (f"Daté après le {as_of[0]}, donc non pris en compte à cette date : ",
         f"Dated after {as_of[1]}, so not counted as of that day: "), found,
        (" ; vérifiez les dates du dossier.", "; check the dates on file.")),), tuple(found))


def _no_covid_evidence(case: Case) -> Outcome | None:
    if any(relevant_facts(f) for f in (*case.facts, *case.superseded, *case.ignored)):
        return None
    return Outcome((fr_en("Aucun élément concernant la COVID-19 (RT-PCR, diagnostic, signes "
                       "cliniques ou scanographiques).",
                       "Nothing about COVID-19 (RT-PCR, diagnosis, clinical or chest-CT signs)."),),
                   ())


def _insufficient(case: Case) -> Outcome | None:
    return Outcome((fr_en("Éléments insuffisants : ni RT-PCR positive, ni diagnostic définitif de "
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
    Rule("technique_unrecognised", "not_eligible",
         "a SARS-CoV-2 result named in words whose technique is not recognised", _simple(
             (Kind.UNSPECIFIED,), ("Résultat SARS-CoV-2 dont la technique n'est pas reconnue : ",
                                   "SARS-CoV-2 result whose technique is not recognised: "),
             (" ; seule une RT-PCR positive confirme un cas : vérifiez le compte rendu du "
              "laboratoire (l'administrateur peut associer ce code à un code LOINC, voir "
              "« prostop codes unknown »).",
              "; only a positive RT-PCR confirms a case: check the laboratory report (the "
              "administrator can map this code to a LOINC code, see 'prostop codes unknown')."))),
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
         dated_later),
    Rule("no_covid_evidence", "not_eligible", "nothing about COVID-19", _no_covid_evidence,
         explains=False),
    Rule("insufficient_evidence", "not_eligible", "none of the above", _insufficient,
         explains=False),
)
