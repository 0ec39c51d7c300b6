"""Results named only in words (issue 14): reading labels stays linear and costs little.

* :func:`~prostop_plugin.eligibility.evaluate` on 8,000 results coded with laboratories' own
  codes, each with its own label (read for real: the word caches are emptied first), against
  4,000: linear work gives 0.5 (target ≥ 0.4).
* the same 4,000 results named in words against 4,000 results coded in LOINC: what reading
  words costs over reading codes (no target: informative).
"""

from __future__ import annotations

from datetime import date

from bench.harness import Harness
from prostop_plugin.eligibility import evaluate
from tests.fixtures.labelled_reports import cold, labelled
from tests.fixtures.large_reports import mixed_results

AS_OF = date(2020, 11, 20)


def run(harness: Harness) -> None:
    half, full = labelled(4000), labelled(8000)
    harness.compare(
        "evaluate: 8,000 results named in words vs 4,000 (cold caches)",
        lambda: cold(lambda: evaluate(full, as_of=AS_OF)),
        lambda: cold(lambda: evaluate(half, as_of=AS_OF)),
        peer_name="evaluate, 4,000 named in words", target_ratio=0.4, iterations=20, warmup=2,
    )
    coded = mixed_results(4000)
    harness.compare(
        "evaluate: 4,000 results named in words vs 4,000 coded in LOINC",
        lambda: cold(lambda: evaluate(half, as_of=AS_OF)),
        lambda: evaluate(coded, as_of=AS_OF), peer_name="evaluate, 4,000 LOINC-coded",
        iterations=20, warmup=2,
    )
