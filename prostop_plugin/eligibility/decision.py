"""The decision: evaluate() runs the rules on a case; is_covid_relevant() screens evidence."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime

from prostop_plugin.eligibility.case import Case, Fact, Kind, build_case, read_fact, relevant_facts
from prostop_plugin.eligibility.policy import EligibilityPolicy, default_policy
from prostop_plugin.eligibility.reading import Interpretation
from prostop_plugin.eligibility.rules import RULES, Outcome, because, dated_later
from prostop_plugin.eligibility.summaries import date_phrase, evidence_used, fr_en
from prostop_plugin.models import EligibilityDecision, Evidence, LocalizedText
from prostop_plugin.values import PARIS


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
        notes = [fr_en("Date de début des symptômes inconnue : demandez-la au patient (sans "
                    "symptômes, la date du test).",
                    "Symptom onset date unknown: ask the patient (without symptoms, the test "
                    "date).")]
    else:
        fr, en = date_phrase(reference)
        what = ("date de début des symptômes", "symptom onset date") \
            if kind == "symptom_onset" else ("date du test", "test date")
        notes = [fr_en(f"Date à indiquer dans l'application : {what[0]}, le {fr}.",
                    f"Date to give in the app: {what[1]}, {en}.")]
    others = [f for f in case.find(Kind.NAAT) if f.reading is not Interpretation.POSITIVE]
    notes.extend(because(("Également au dossier : ", "Also on file: "), [f], (".", "."))
                 for f in others)
    if (later := dated_later(case)) is not None:
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
    policy = policy or default_policy()
    as_of = as_of or datetime.now(PARIS).date()
    case = build_case(evidence, policy, as_of)
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
        evidence=[evidence_used(f) for f in _unique(used)], reference_date=reference,
        reference_date_kind=kind,
        requires_qr_attestation=rule.decision == "confirmed",
        requires_rtpcr_attestation=outcome.requires_rtpcr_attestation, as_of=as_of,
    )



def is_covid_relevant(
    evidence: Sequence[Evidence], policy: EligibilityPolicy | None = None
) -> bool:
    """Whether any piece could bear on a decision: a SARS-CoV-2 test, a COVID-19 diagnosis,
    clinical signs or a suggestive chest CT. Adapters acknowledge other messages unstored."""
    policy = policy or default_policy()
    return any(relevant_facts(read_fact(item, policy)) for item in evidence)
