"""Large reports: ``prostop check`` end to end, and evaluation alone, against a small peer.

* ``prostop check`` on an HPRIM report of 4,000 results against the same report with one
  result, each a fresh process (interpreter start, configuration, reading, evaluation, printing):
  issue 10's target is at most 4× (ratio ≥ 0.25). Before the fix the evaluation compared every
  result with every other: 4,000 results took 4.7 s here against 0.26 s for one (ratio 0.06).
* :func:`~prostop_plugin.eligibility.evaluate` on 8,000 mixed results against 4,000: linear
  work gives 0.5, the old pairwise settling 0.25 (target ≥ 0.4).

The reports come from ``tests/fixtures/large_reports.py``: negatives, deleted positives,
corrections, preliminary and indeterminate results, serologies, Ct values, glycaemia.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

from bench.harness import Harness
from prostop_plugin.eligibility import evaluate
from tests.fixtures.large_reports import hprim_report, mixed_results

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
if not CORPUS.is_dir():  # a bare clone: the snapshot the tests keep identical to it
    CORPUS = Path(__file__).resolve().parents[1] / "tests" / "shared_corpus"
AS_OF = date(2020, 11, 20)


def _prostop() -> list[str]:
    script = Path(sys.executable).with_name("prostop")
    return [str(script)] if script.exists() else [sys.executable, "-m", "prostop_plugin.cli"]


def _check(path: Path, cwd: Path) -> None:
    subprocess.run([*_prostop(), "check", str(path), "--as-of", AS_OF.isoformat()],
                   cwd=cwd, check=True, stdout=subprocess.DEVNULL)


def run(harness: Harness) -> None:
    template = (CORPUS / "hprim_rtpcr_positif.hpr").read_bytes()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        small, large = folder / "one.hpr", folder / "large.hpr"
        small.write_bytes(hprim_report(template, 1))
        large.write_bytes(hprim_report(template, 4000))
        harness.compare(
            "check: HPRIM 4,000 results vs 1 (process)", lambda: _check(large, folder),
            lambda: _check(small, folder), peer_name="prostop check, 1 result",
            target_ratio=0.25, iterations=20, warmup=2,
        )
    half, full = mixed_results(4000), mixed_results(8000)
    harness.compare(
        "evaluate: 8,000 mixed results vs 4,000", lambda: evaluate(full, as_of=AS_OF),
        lambda: evaluate(half, as_of=AS_OF), peer_name="evaluate, 4,000 results",
        target_ratio=0.4, iterations=40, warmup=2,
    )
