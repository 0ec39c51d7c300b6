"""Reading tests from their words stays linear: each result's label costs its own length, never
the number of results (patterns compiled once; the local-code map is a dictionary)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from types import FrameType
from typing import Any

from prostop_plugin.eligibility import EligibilityPolicy, evaluate
from prostop_plugin.eligibility.labels import normalised, read_label
from prostop_plugin.eligibility.reading import text_words
from prostop_plugin.models import Coding, Evidence, LabResult

AS_OF = date(2020, 11, 20)
START = datetime(2020, 11, 10, 8, tzinfo=UTC)
LABELS = ["SARS-CoV-2 RT-PCR (écouvillon) n°{i}", "Test antigénique COVID-19 lot {i}",
          "Sérologie SARS-CoV-2 IgG {i}", "Grippe A PCR {i}", "Recherche SARS-CoV-2 {i}",
          "Résultat {i}"]
VALUES = ["Non détecté", "NEGATIF", "Ininterprétable", "POSITIF", "Douteux", "ND"]


def labelled(n: int) -> list[Evidence]:
    """``n`` results, each with its own label (no cache helps), none confirming."""
    results: list[Evidence] = []
    for i in range(n):
        label = LABELS[i % len(LABELS)].format(i=i)
        value = VALUES[i % len(VALUES)] if i % len(LABELS) == 0 else "POSITIF"
        if i % len(LABELS) == 0 and value == "POSITIF":
            value = "NEGATIF"
        results.append(LabResult(
            test=Coding(code=f"L{i}", system="L", display=label), value_type="ST",
            value_text=value, sender=f"LABO-{i % 7}",
            panel=Coding(code="P", system="L", display=f"Bilan {i}"),
            collected_at=START + timedelta(minutes=i), observed_at=START + timedelta(days=1),
        ))
    return results


def cold(run: Callable[[], object]) -> object:
    """Run with the word caches empty: every label is read for real."""
    read_label.cache_clear()
    normalised.cache_clear()
    text_words.cache_clear()
    return run()


def calls(run: Callable[[], object]) -> int:
    count = 0

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        nonlocal count
        if event in ("call", "c_call"):
            count += 1

    sys.setprofile(profile)
    try:
        run()
    finally:
        sys.setprofile(None)
    return count


def test_reading_labels_grows_linearly_with_the_results() -> None:
    policy = EligibilityPolicy(local_codes={f"LABO-{s}": {f"X{i}": "94309-2" for i in range(300)}
                                            for s in range(7)})
    small, large = labelled(300), labelled(600)
    assert evaluate(small, policy, AS_OF).decision == "not_eligible"
    work_small = calls(lambda: cold(lambda: evaluate(small, policy, AS_OF)))
    work_large = calls(lambda: cold(lambda: evaluate(large, policy, AS_OF)))
    assert work_large <= 2.1 * work_small, (work_small, work_large)


def test_a_bigger_local_code_map_does_not_cost_more_per_result() -> None:
    results = labelled(200)
    few = EligibilityPolicy(local_codes={"LABO-1": {"X": "94309-2"}})
    many = EligibilityPolicy(local_codes={f"LABO-{s}": {f"X{i}": "94309-2" for i in range(500)}
                                          for s in range(20)})
    evaluate(results, few, AS_OF)
    evaluate(results, many, AS_OF)
    assert calls(lambda: evaluate(results, many, AS_OF)) <= 1.1 * calls(
        lambda: evaluate(results, few, AS_OF))
