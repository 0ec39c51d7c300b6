"""Reading tests from their words stays linear: each result's label costs its own length, never
the number of results (patterns compiled once; the local-code map is a dictionary)."""

from __future__ import annotations

from datetime import date

from prostop_plugin.eligibility import EligibilityPolicy, evaluate
from prostop_plugin.models import Coding
from tests.fixtures.labelled_reports import cold, labelled
from tests.fixtures.work import profiled_calls

AS_OF = date(2020, 11, 20)


def test_reading_labels_grows_linearly_with_the_results() -> None:
    policy = EligibilityPolicy(local_codes={f"LABO-{s}": {f"X{i}": "94309-2" for i in range(300)}
                                            for s in range(7)})
    small, large = labelled(300), labelled(600)
    assert evaluate(small, policy, AS_OF).decision == "not_eligible"
    work_small = profiled_calls(lambda: cold(lambda: evaluate(small, policy, AS_OF)))
    work_large = profiled_calls(lambda: cold(lambda: evaluate(large, policy, AS_OF)))
    assert work_large <= 2.1 * work_small, (work_small, work_large)


def test_a_bigger_local_code_map_does_not_cost_more_per_result() -> None:
    results = labelled(200)
    few = EligibilityPolicy(local_codes={"LABO-1": {"X": "94309-2"}})
    many = EligibilityPolicy(local_codes={f"LABO-{s}": {f"X{i}": "94309-2" for i in range(500)}
                                          for s in range(20)})
    evaluate(results, few, AS_OF)
    evaluate(results, many, AS_OF)
    assert profiled_calls(lambda: evaluate(results, many, AS_OF)) <= 1.1 * profiled_calls(
        lambda: evaluate(results, few, AS_OF))


class _Watched(dict[str, str]):
    """A map that counts how often it is compared whole (each compare costs its size)."""

    compared = 0

    def __eq__(self, other: object) -> bool:
        _Watched.compared += 1
        return dict.__eq__(self, other)

    __hash__ = None  # type: ignore[assignment]


def test_the_map_is_never_compared_whole_per_result() -> None:
    policy = EligibilityPolicy()
    policy.local_codes = _Watched({f"X{i}": "94309-2" for i in range(1000)})
    evaluate(labelled(100), policy, AS_OF)
    assert _Watched.compared == 0
    assert policy.local_code_map().lookup(None, Coding(code="X7", system="L")) == "94309-2"
