"""Which laboratory codes the admin should map: the results whose test was read from words.

A result whose test no known code names, but whose words name SARS-CoV-2, is recognised from
its label (or left ``unspecified`` when the technique is not said). Each such result names a
code the admin can map in ``[eligibility.local_codes]`` so that the decision no longer rests on
words. :func:`codes_seen` lists them, with no patient data: the sender, the code, its label and
what the words said.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from prostop_plugin.eligibility.policy import EligibilityPolicy, default_policy
from prostop_plugin.eligibility.reading import test_code_of
from prostop_plugin.models import CodeSystem, Evidence, LabResult


@dataclass(frozen=True)
class CodeSeen:
    """One result's test code that only its words explained."""

    sender: str  # "" when the result names none
    system: str
    code: str
    label: str
    category: str  # what the words said: naat, antigen, serology, ct_value, unspecified


def codes_seen(evidence: Iterable[Evidence], policy: EligibilityPolicy | None = None,
               ) -> list[CodeSeen]:
    """The test codes of the results recognised from their words, in evidence order."""
    policy = policy or default_policy()
    seen: list[CodeSeen] = []
    for item in evidence:
        if not isinstance(item, LabResult):
            continue
        test = test_code_of(item, policy)
        if test.recognised is None:
            continue
        codings = [c for c in (item.test, item.test_alternate) if c is not None]
        coding = next((c for c in codings if c.system != CodeSystem.LOINC), codings[0])
        seen.append(CodeSeen(
            sender=item.sender or "", system=coding.system, code=coding.code,
            label=test.recognised.label, category=test.category.value,
        ))
    return seen
