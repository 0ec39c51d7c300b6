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

Modules, each importing only those above it: :mod:`.local_codes` (the admin's map of
laboratory codes), :mod:`.policy` (the settings), :mod:`.labels` and :mod:`.diagnosis_text`
(tests and diagnoses named only in words), :mod:`.reading` (what one lab result is and says:
a known code, the map, then the words), :mod:`.case` (facts, and the case they are settled
into), :mod:`.summaries` (describing evidence, quoting the words that decided),
:mod:`.rules` (the :data:`RULES` table), :mod:`.decision` (:func:`evaluate`) and
:mod:`.observations` (the codes words explained, for ``prostop codes unknown``).
"""

from __future__ import annotations

from prostop_plugin.eligibility.case import Case, Fact, Kind, ReferenceKind, read_fact
from prostop_plugin.eligibility.decision import evaluate, is_covid_relevant
from prostop_plugin.eligibility.policy import EligibilityPolicy
from prostop_plugin.eligibility.reading import (
    Interpretation,
    LabCategory,
    classify_lab_result,
    interpret_lab_result,
    interpret_text,
    parse_onset_date,
    resolve_loinc,
)
from prostop_plugin.eligibility.rules import RULES, Outcome, Rule
from prostop_plugin.eligibility.summaries import describe

__all__ = [
    "RULES",
    "Case",
    "EligibilityPolicy",
    "Fact",
    "Interpretation",
    "Kind",
    "LabCategory",
    "Outcome",
    "ReferenceKind",
    "Rule",
    "classify_lab_result",
    "describe",
    "evaluate",
    "interpret_lab_result",
    "interpret_text",
    "is_covid_relevant",
    "parse_onset_date",
    "read_fact",
    "resolve_loinc",
]
