"""Evaluation is linear in the number of results, and bounded: proven by counting work, never
by timing it (the timings are ratios in ``bench/bench_eligibility.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prostop_plugin.eligibility import EligibilityPolicy, evaluate, read_fact
from prostop_plugin.eligibility import case as case_module
from prostop_plugin.eligibility.case import Fact, result_rank, settle_results
from prostop_plugin.eligibility.decision import TOO_MANY_RESULTS
from prostop_plugin.eligibility.policy import default_policy
from prostop_plugin.eligibility.reading import aware_instant
from prostop_plugin.models import Coding, Evidence, LabResult
from tests.fixtures.large_reports import NAAT, NEGATIVE, POSITIVE, mixed_results
from tests.fixtures.work import profiled_calls

AS_OF = date(2020, 11, 20)


@pytest.fixture
def rank_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """How many times a result's rank was computed (the step that was quadratic)."""
    counter = [0]

    def counting(fact: Fact) -> Any:
        counter[0] += 1
        return result_rank(fact)

    monkeypatch.setattr(case_module, "result_rank", counting)
    yield counter


def test_each_result_is_ranked_once(rank_calls: list[int]) -> None:
    counts = {}
    for n in (200, 400):
        rank_calls[0] = 0
        decision = evaluate(mixed_results(n), as_of=AS_OF)
        assert decision.rule == "result_withdrawn"  # the not-eligible path: every rule tried
        counts[n] = rank_calls[0]
    assert counts[400] <= 2.1 * counts[200], counts
    assert counts[200] <= 200  # once each


def test_evaluation_work_grows_linearly() -> None:
    """Every call counted, readers of the facts to the reasons: twice the results, about
    twice the work (the old pairwise settling made it 3.7 times, naming the evidence
    once more 2.3 times)."""
    small, large = mixed_results(400), mixed_results(800)
    evaluate(small, as_of=AS_OF)  # warm the caches (words of the policy's terms)
    calls_small = profiled_calls(lambda: evaluate(small, as_of=AS_OF))
    calls_large = profiled_calls(lambda: evaluate(large, as_of=AS_OF))
    assert calls_large <= 2.1 * calls_small, (calls_small, calls_large)


# -- the linear settling says what the pairwise definition says ----------------------------------


def _same_sample(a: Fact, b: Fact) -> bool:
    assert isinstance(a.item, LabResult) and isinstance(b.item, LabResult)
    if (a.kind, a.code) != (b.kind, b.code):
        return False
    ta, tb = a.item.collected_at, b.item.collected_at
    return ta is None or tb is None or aware_instant(ta) == aware_instant(tb)


def _settle_pairwise(facts: list[Fact]) -> tuple[list[Fact], list[Fact]]:
    """The definition, one result against every other (what ``settle_results`` did, quadratic)."""
    labs = [f for f in facts if isinstance(f.item, LabResult)]
    effective: list[Fact] = [f for f in facts if not isinstance(f.item, LabResult)]
    superseded: list[Fact] = []
    for fact in labs:
        peers = [p for p in labs if _same_sample(fact, p)]
        top = max(result_rank(p) for p in peers)
        if result_rank(fact) == top:
            tied = {p.reading for p in peers if result_rank(p) == top}
            effective.append(replace(fact, contested=len(tied) > 1))
        else:
            winner = next(p for p in peers if result_rank(p) == top)
            superseded.append(replace(fact, superseded_by=winner))
    return effective, superseded


def _summary(facts: list[Fact]) -> list[tuple[int, bool, int | None]]:
    return [(id(f.item), f.contested, id(f.superseded_by.item) if f.superseded_by else None)
            for f in facts]


PARIS_TIMES = [datetime(2020, 11, 15, 10, 0), datetime(2020, 11, 16, 9, 30)]
MOMENTS = [*PARIS_TIMES, *(t.replace(tzinfo=UTC) for t in PARIS_TIMES),
           datetime(2020, 11, 15, 9, 0, tzinfo=UTC)]  # the first one, written in UTC
samples = st.none() | st.sampled_from(MOMENTS)
results = st.builds(
    LabResult,
    test=st.sampled_from([NAAT, "94558-4", "94563-4"]).map(lambda c: Coding(code=c, system="LN")),
    value_coded=st.none() | st.sampled_from([POSITIVE, NEGATIVE]).map(
        lambda c: Coding(code=c, system="SCT")),
    status=st.sampled_from(["F", "C", "P", "D"]),
    observed_at=samples, collected_at=samples,
)


@settings(max_examples=200, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(results, max_size=12))
def test_settling_agrees_with_the_pairwise_definition(items: list[LabResult]) -> None:
    facts = [read_fact(item, default_policy()) for item in items]
    effective, superseded = settle_results(facts)
    expected_effective, expected_superseded = _settle_pairwise(facts)
    assert _summary(effective) == _summary(expected_effective)
    assert _summary(superseded) == _summary(expected_superseded)


# -- bounded work --------------------------------------------------------------------------------


def _positive_among(n: int) -> list[Evidence]:
    positive = LabResult(test=Coding(code=NAAT, system="LN"),
                         value_coded=Coding(code=POSITIVE, system="SCT"),
                         collected_at=datetime(2020, 11, 18, 9, tzinfo=UTC))
    return [*mixed_results(n - 1), positive]


def test_over_the_limit_nothing_is_judged_and_the_physician_is_told_why() -> None:
    evidence = _positive_among(12)
    policy = EligibilityPolicy(max_evidence=11)
    decision = evaluate(evidence, policy, AS_OF)
    assert (decision.decision, decision.rule) == ("not_eligible", TOO_MANY_RESULTS)
    [reason] = decision.reasons
    assert "Trop de résultats" in reason.fr and "12 éléments" in reason.fr
    assert "limite de 11" in reason.fr and "eligibility.max_evidence" in reason.fr
    assert "un résultat positif peut s'y trouver" in reason.fr
    assert "a positive result may be among them" in reason.en
    assert decision.evidence == [] and decision.reference_date is None
    # at the limit, the record is evaluated: the positive confirms
    assert evaluate(evidence, EligibilityPolicy(max_evidence=12), AS_OF).rule == "naat_positive"


def test_over_the_limit_no_result_is_read(rank_calls: list[int]) -> None:
    evidence, policy = mixed_results(5000), EligibilityPolicy(max_evidence=10)
    calls = profiled_calls(lambda: evaluate(evidence, policy, AS_OF))
    assert calls < 200 and rank_calls[0] == 0


def test_the_default_limit_leaves_real_reports_alone() -> None:
    assert default_policy().max_evidence >= 8000
    with pytest.raises(ValueError, match="max_evidence"):
        EligibilityPolicy(max_evidence=0)


def test_a_large_report_still_confirms_on_its_positive() -> None:
    start = datetime(2020, 11, 18, 9, tzinfo=UTC)
    negatives = [LabResult(test=Coding(code=NAAT, system="LN"),
                           value_coded=Coding(code=NEGATIVE, system="SCT"),
                           collected_at=start - timedelta(minutes=i)) for i in range(1, 3000)]
    decision = evaluate([*negatives, *_positive_among(1)], as_of=AS_OF)
    assert decision.rule == "naat_positive"


def test_each_result_is_identified_once_per_evaluation(monkeypatch: pytest.MonkeyPatch) -> None:
    from prostop_plugin.eligibility import reading

    identified: list[LabResult] = []
    real = reading.test_code_of

    def counting(result: LabResult, policy: EligibilityPolicy) -> Any:
        identified.append(result)
        return real(result, policy)

    monkeypatch.setattr(reading, "test_code_of", counting)
    monkeypatch.setattr(case_module, "test_code_of", counting)
    results = mixed_results(6)
    decision = evaluate(results, as_of=AS_OF)
    # what the test is, then what it says: one look at its codes, not two
    assert len(identified) == len(results)
    assert decision == evaluate(results, as_of=AS_OF)


def test_a_result_that_settling_leaves_as_it_is_is_not_copied() -> None:
    policy = default_policy()
    facts = [read_fact(item, policy) for item in mixed_results(20)]
    effective, superseded = settle_results(facts)
    unchanged = [f for f in effective if isinstance(f.item, LabResult) and not f.contested]
    assert unchanged and superseded  # both kinds are in this report
    # the same fact, not an equal copy; a superseded one is a copy naming what replaced it
    assert all(any(f is original for original in facts) for f in unchanged)
    assert not any(any(f is original for original in facts) for f in superseded)
