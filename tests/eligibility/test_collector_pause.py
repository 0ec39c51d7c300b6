"""A large evaluation runs with the cyclic garbage collector paused (its passes made the time
grow faster than the report), and leaves the collector as it found it."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest

from prostop_plugin.eligibility import decision, evaluate
from tests.fixtures.large_reports import mixed_results

AS_OF = date(2020, 11, 20)


@pytest.fixture
def collector_seen(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bool]]:
    """Whether the collector was on, seen from inside each evaluation."""
    seen: list[bool] = []
    build_case = decision.build_case

    def recording(*args: Any, **kwargs: Any) -> Any:
        seen.append(gc.isenabled())
        return build_case(*args, **kwargs)

    monkeypatch.setattr(decision, "build_case", recording)
    was_enabled = gc.isenabled()
    yield seen
    (gc.enable if was_enabled else gc.disable)()


def test_a_large_report_is_evaluated_with_the_collector_paused_then_resumed(
    collector_seen: list[bool],
) -> None:
    gc.enable()
    evaluate(mixed_results(decision.PAUSE_COLLECTOR_FROM), as_of=AS_OF)
    assert collector_seen == [False]
    assert gc.isenabled()


def test_a_small_report_leaves_the_collector_alone(collector_seen: list[bool]) -> None:
    gc.enable()
    evaluate(mixed_results(decision.PAUSE_COLLECTOR_FROM - 1), as_of=AS_OF)
    assert collector_seen == [True]


def test_a_collector_the_host_turned_off_stays_off(collector_seen: list[bool]) -> None:
    gc.disable()
    evaluate(mixed_results(decision.PAUSE_COLLECTOR_FROM), as_of=AS_OF)
    assert collector_seen == [False]
    assert not gc.isenabled()


def test_evaluations_running_at_once_resume_the_collector_only_when_the_last_ends(
    collector_seen: list[bool],
) -> None:
    gc.enable()
    inside, release = threading.Barrier(2), threading.Event()
    build_case = decision.build_case

    def waiting(*args: Any, **kwargs: Any) -> Any:
        if threading.current_thread().name == "slow":
            inside.wait(5)
            release.wait(5)
        return build_case(*args, **kwargs)

    decision.build_case = waiting  # (the fixture restores the original)
    results = mixed_results(decision.PAUSE_COLLECTOR_FROM)
    slow = threading.Thread(target=evaluate, args=(results,), kwargs={"as_of": AS_OF},
                            name="slow")
    slow.start()
    inside.wait(5)  # the slow evaluation has paused the collector and is running
    evaluate(results, as_of=AS_OF)  # starts and ends meanwhile
    assert not gc.isenabled()
    release.set()
    slow.join(10)
    assert gc.isenabled()
