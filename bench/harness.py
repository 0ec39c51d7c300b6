"""A small side-by-side harness: ratios against a peer measured in the same run.

A benchmark module ``bench/bench_<name>.py`` defines ``run(harness: Harness) -> None`` and calls
``harness.compare(...)`` once per case. Timings are never asserted in tests: the ratio is the
result, printed as a table and written to ``bench/results.json``.
"""

from __future__ import annotations

import contextlib
import json
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any


@dataclass
class Timing:
    name: str
    ops_per_s: float
    p50_us: float
    p99_us: float


@dataclass
class Comparison:
    case: str
    ours: Timing
    peer: Timing
    ratio: float  # > 1: we are faster (peer p50 / our p50)
    target: float | None
    met: bool | None
    note: str = ""


def _measure(name: str, fn: Callable[[], object], iterations: int, warmup: int) -> Timing:
    for _ in range(warmup):
        fn()
    samples: list[float] = []
    perf = time.perf_counter
    for _ in range(iterations):
        start = perf()
        fn()
        samples.append(perf() - start)
    samples.sort()
    p50 = statistics.median(samples)
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    total = sum(samples)
    return Timing(name, iterations / total if total else float("inf"), p50 * 1e6, p99 * 1e6)


@dataclass
class Harness:
    quick: bool = False
    results: list[Comparison] = field(default_factory=list)

    def compare(
        self,
        case: str,
        ours: Callable[[], object],
        peer: Callable[[], object],
        *,
        ours_name: str = "prostop-plugin",
        peer_name: str,
        target_ratio: float | None = None,
        iterations: int = 2000,
        warmup: int = 50,
        note: str = "",
    ) -> Comparison:
        """Time both callables alternately in rounds, so machine noise hits both alike."""
        if self.quick:
            iterations, warmup = max(20, iterations // 50), max(2, warmup // 10)
        rounds = 5
        per_round = max(1, iterations // rounds)
        ours_t: list[Timing] = []
        peer_t: list[Timing] = []
        for _ in range(rounds):
            ours_t.append(_measure(ours_name, ours, per_round, warmup))
            peer_t.append(_measure(peer_name, peer, per_round, warmup))

        def merge(name: str, ts: list[Timing]) -> Timing:
            return Timing(
                name,
                statistics.median(t.ops_per_s for t in ts),
                statistics.median(t.p50_us for t in ts),
                statistics.median(t.p99_us for t in ts),
            )

        o, p = merge(ours_name, ours_t), merge(peer_name, peer_t)
        ratio = p.p50_us / o.p50_us if o.p50_us else float("inf")
        met = None if target_ratio is None else ratio >= target_ratio
        result = Comparison(case, o, p, ratio, target_ratio, met, note)
        self.results.append(result)
        return result

    def table(self) -> str:
        lines = [
            f"{'case':<44} {'ours p50 µs':>11} {'peer p50 µs':>11} "
            f"{'ratio':>7} {'target':>7}  peer",
        ]
        for r in self.results:
            target = f"≥{r.target:.2g}×" if r.target is not None else "-"
            mark = "" if r.met is None else (" ok" if r.met else " MISSED")
            lines.append(
                f"{r.case:<44} {r.ours.p50_us:>11.1f} {r.peer.p50_us:>11.1f} "
                f"{r.ratio:>6.2f}× {target:>7}{mark}  {r.peer.name}"
            )
        return "\n".join(lines)

    def environment(self) -> dict[str, Any]:
        versions: dict[str, str] = {}
        for dist in ("prostop-plugin", "hl7", "hl7apy", "lxml", "httpx", "pydantic"):
            with contextlib.suppress(metadata.PackageNotFoundError):
                versions[dist] = metadata.version(dist)
        return {
            "python": platform.python_version(),
            "machine": platform.machine(),
            "processor": platform.processor(),
            "platform": platform.platform(),
            "versions": versions,
        }

    def write_json(self, path: Path) -> None:
        payload = {
            "environment": self.environment(),
            "results": [asdict(r) for r in self.results],
        }
        path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
