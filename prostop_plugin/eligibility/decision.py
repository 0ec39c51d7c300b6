"""The decision: evaluate() runs the rules on a case; is_covid_relevant() screens evidence."""

from __future__ import annotations

import gc
import threading
from collections.abc import Hashable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime

from pydantic import BaseModel

from prostop_plugin.eligibility.case import Case, Fact, Kind, build_case, read_fact, relevant_facts
from prostop_plugin.eligibility.policy import EligibilityPolicy, default_policy
from prostop_plugin.eligibility.reading import Interpretation
from prostop_plugin.eligibility.rules import RULES, Outcome, because, dated_later
from prostop_plugin.eligibility.summaries import date_phrase, evidence_used, fr_en
from prostop_plugin.models import EligibilityDecision, Evidence, LocalizedText
from prostop_plugin.values import PARIS

#: from this many pieces of evidence, an evaluation runs with the cyclic collector paused
PAUSE_COLLECTOR_FROM = 500


class _CollectorPause:
    """Pauses Python's cyclic garbage collector while large evaluations run (any thread).

    Why: each collection pass scans the objects alive, and evaluating thousands of results
    keeps many alive (the report's, the case's): passes during one evaluation made its time
    grow faster than its input (8,000 results took 2.8× the time of 4,000; 2.0× paused). What
    an evaluation builds holds no reference cycles, so reference counting frees it all the
    same. Evaluations running at once share one pause; a collector the host had turned off
    stays off.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running = 0
        self._was_enabled = False

    @contextmanager
    def __call__(self, size: int) -> Iterator[None]:
        if size < PAUSE_COLLECTOR_FROM:
            yield
            return
        with self._lock:
            if self._running == 0:
                self._was_enabled = gc.isenabled()
                gc.disable()
            self._running += 1
        try:
            yield
        finally:
            with self._lock:
                self._running -= 1
                if self._running == 0 and self._was_enabled:
                    gc.enable()


_collector_paused = _CollectorPause()


def _unique(facts: Iterable[Fact]) -> list[Fact]:
    seen: set[int] = set()  # ids of the items listed: the items live as long as the facts
    unique: list[Fact] = []
    for fact in facts:
        if id(fact.item) not in seen:
            seen.add(id(fact.item))
            unique.append(fact)
    return unique


def _content(value: object) -> Hashable:
    """A key equal for equal values, as ``==`` on the models sees them (field by field)."""
    if isinstance(value, BaseModel):
        return type(value), tuple(_content(v) for v in value.__dict__.values())
    if isinstance(value, list | tuple):
        return type(value), tuple(_content(v) for v in value)
    if isinstance(value, dict):
        return dict, frozenset((k, _content(v)) for k, v in value.items())
    return value


class _Named:
    """The evidence a decision already names: ``item in named`` as ``in`` on a list of the
    items would answer (the same object, or an equal one), in constant time."""

    def __init__(self, facts: Iterable[Fact]) -> None:
        self._ids: set[int] = set()
        self._contents: set[Hashable] = set()
        self.add(facts)

    def add(self, facts: Iterable[Fact]) -> None:
        for fact in facts:
            self._ids.add(id(fact.item))
            self._contents.add(_content(fact.item))

    def __contains__(self, item: object) -> bool:
        return id(item) in self._ids or _content(item) in self._contents


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


#: the rule id of a decision refused because the record holds more than ``max_evidence`` pieces
TOO_MANY_RESULTS = "too_many_results"


def _too_many_results(count: int, policy: EligibilityPolicy, as_of: date) -> EligibilityDecision:
    """Beyond ``max_evidence``, no partial judgement: a positive must never be dropped unseen,
    so the physician is told that nothing was evaluated, and why, and what to do."""
    limit = policy.max_evidence
    return EligibilityDecision(
        decision="not_eligible", rule=TOO_MANY_RESULTS, as_of=as_of, reasons=[fr_en(
            f"Trop de résultats pour une évaluation automatique : {count} éléments pour ce "
            f"patient, au-delà de la limite de {limit} (réglage eligibility.max_evidence). Rien "
            "n'a été évalué : consultez les résultats dans le dossier (un résultat positif peut "
            "s'y trouver), puis demandez au laboratoire des comptes rendus séparés ou relevez "
            "la limite.",
            f"Too many results for an automatic evaluation: {count} items for this patient, "
            f"over the limit of {limit} (setting eligibility.max_evidence). Nothing was "
            "evaluated: review the results in the record (a positive result may be among "
            "them), then ask the laboratory for separate reports or raise the limit.")],
    )


def evaluate(
    evidence: Sequence[Evidence], policy: EligibilityPolicy | None = None,
    as_of: date | None = None,
) -> EligibilityDecision:
    """Decide whether one patient's evidence qualifies for a declaration code, as of a day.

    Pure: no I/O, and no exception on any well-typed evidence. ``as_of`` defaults to today in
    France. Linear in the number of pieces of evidence (n log n for their canonical order);
    beyond ``policy.max_evidence`` pieces nothing is evaluated (rule ``too_many_results``).
    """
    policy = policy or default_policy()
    as_of = as_of or datetime.now(PARIS).date()
    if len(evidence) > policy.max_evidence:
        return _too_many_results(len(evidence), policy, as_of)
    with _collector_paused(len(evidence)):
        return _decide(evidence, policy, as_of)


def _decide(
    evidence: Sequence[Evidence], policy: EligibilityPolicy, as_of: date
) -> EligibilityDecision:
    case = build_case(evidence, policy, as_of)
    matches = ((rule, outcome) for rule in RULES if (outcome := rule.match(case)) is not None)
    rule, outcome = next(matches)  # insufficient_evidence always matches
    eligible = rule.decision != "not_eligible"
    reasons, used = list(outcome.reasons), list(outcome.used)
    if eligible:
        reasons.extend(_notes(case, outcome))
    else:
        named, said = _Named(used), {_content(r) for r in reasons}
        for other, more in matches:
            # a later rule speaks only when it names evidence not already named
            if other.explains and any(f.item not in named for f in more.used):
                for reason in more.reasons:
                    if (text := _content(reason)) not in said:
                        said.add(text)
                        reasons.append(reason)
                used.extend(more.used)
                named.add(more.used)
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
