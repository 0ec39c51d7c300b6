"""What the plugin did, week by week or day by day: counts per outcome, never patient data.

Computed from the ledger's non-identifying columns only (states, transition times, creation
times), through a read-only connection of its own: no row is decrypted, so the figures cost
one scan whatever the ledger holds, and the reader cannot change anything.

Outcomes (each issuance counts once per outcome and period, in the period the transition
happened, Paris time):

* ``offered``: a request reached the physician (``awaiting_confirmation``);
* ``confirmed``: the physician approved it (``approved``);
* ``declined``: the physician declined it;
* ``not_eligible``: the evidence did not make a case;
* ``issued``: a code was issued;
* ``validity_passed``: a code's validity passed (*validité dépassée*). The plugin cannot know
  whether the patient entered the code in the app: only that it can no longer be used;
* ``failed``: the code request or the write-back into the record failed (``issue_failed``,
  ``write_back_failed``), even if a retry succeeded later.

The median delay is from the arrival of the result (the issuance's creation) to the code (its
first ``issued`` transition), over the codes issued in the period.
"""

from __future__ import annotations

import csv
import io
import sqlite3
import statistics
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Literal

from prostop_plugin.errors import LedgerError
from prostop_plugin.values import PARIS

__all__ = [
    "OUTCOME_STATES",
    "Grouping",
    "Outcome",
    "PeriodStats",
    "StatsReport",
    "compute_stats",
    "empty_report",
    "period_start",
    "report_csv",
    "write_back_backlog",
]

Grouping = Literal["week", "day"]


class Outcome(StrEnum):
    OFFERED = "offered"
    CONFIRMED = "confirmed"
    DECLINED = "declined"
    NOT_ELIGIBLE = "not_eligible"
    ISSUED = "issued"
    VALIDITY_PASSED = "validity_passed"
    FAILED = "failed"


#: the states whose transitions count for each outcome
OUTCOME_STATES: dict[Outcome, tuple[str, ...]] = {
    Outcome.OFFERED: ("awaiting_confirmation",),
    Outcome.CONFIRMED: ("approved",),
    Outcome.DECLINED: ("declined",),
    Outcome.NOT_ELIGIBLE: ("not_eligible",),
    Outcome.ISSUED: ("issued",),
    Outcome.VALIDITY_PASSED: ("expired",),
    Outcome.FAILED: ("issue_failed", "write_back_failed"),
}
_OUTCOME_OF = {state: outcome for outcome, states in OUTCOME_STATES.items() for state in states}
#: states holding a code that is not (yet) in the patient's record
_WAITING_FOR_WRITE_BACK = ("issued", "write_back_failed")


@dataclass(frozen=True)
class PeriodStats:
    start: date  #: the first day (a Monday for weeks)
    end: date  #: the last day, included
    counts: dict[Outcome, int]
    median_seconds: float | None  #: from the result to the code; None when no code was issued
    codes_timed: int = 0  #: the codes that median is over


@dataclass(frozen=True)
class StatsReport:
    by: Grouping
    since: date | None
    periods: list[PeriodStats]
    totals: dict[Outcome, int] = field(default_factory=dict)
    median_seconds: float | None = None
    codes_timed: int = 0


def period_start(day: date, by: Grouping) -> date:
    return day - timedelta(days=day.weekday()) if by == "week" else day


def _paris_day(moment: str) -> date:
    return datetime.fromisoformat(moment).astimezone(PARIS).date()


def _utc_iso(day: date) -> str:
    """Midnight in Paris that day, as the ledger writes times (UTC, microseconds)."""
    return datetime.combine(day, time(0), PARIS).astimezone(UTC).isoformat(
        timespec="microseconds")


@contextmanager
def read_only(ledger_path: Path) -> Iterator[sqlite3.Connection]:
    """A read-only connection to the ledger file (never creates it)."""
    if not ledger_path.is_file():
        raise LedgerError(
            "there is no ledger yet", where=str(ledger_path),
            fix="it is created with the first event ('prostop serve', 'prostop submit'); "
            "check data_dir in prostop.toml",
        )
    try:
        conn = sqlite3.connect(ledger_path.resolve().as_uri() + "?mode=ro", uri=True,
                               timeout=30.0)
    except sqlite3.Error as exc:
        raise LedgerError(f"cannot open the ledger: {exc}", where=str(ledger_path)) from None
    try:
        yield conn
    except sqlite3.Error as exc:
        raise LedgerError(
            f"cannot read the ledger: {exc}", where=str(ledger_path),
            fix="check that it is a prostop ledger of this version ('prostop doctor')",
        ) from None
    finally:
        conn.close()


def compute_stats(
    ledger_path: Path, *, by: Grouping = "week", since: date | None = None,
    today: date | None = None,
) -> StatsReport:
    """Counts per outcome and period, from ``since`` (Paris time) to ``today``.

    Periods without activity between the first and the last are listed with zeros (a chart
    shows the quiet weeks too).
    """
    today = today or datetime.now(PARIS).date()
    floor = _utc_iso(since) if since is not None else ""
    marks = ",".join("?" * len(_OUTCOME_OF))
    seen: dict[date, dict[Outcome, set[str]]] = defaultdict(lambda: defaultdict(set))
    delays: dict[date, list[float]] = defaultdict(list)
    with read_only(ledger_path) as conn:
        rows = conn.execute(
            f"SELECT issuance_id, to_state, at FROM transitions WHERE to_state IN ({marks}) "
            "AND at >= ?", [*_OUTCOME_OF, floor],
        )
        for issuance_id, state, at in rows:
            seen[period_start(_paris_day(at), by)][_OUTCOME_OF[state]].add(issuance_id)
        first_codes = conn.execute(
            "SELECT i.created_at, min(t.at) FROM issuances i JOIN transitions t "
            "ON t.issuance_id = i.id AND t.to_state = 'issued' GROUP BY i.id HAVING min(t.at) "
            ">= ?", (floor,),
        )
        for created_at, issued_at in first_codes:
            delay = (datetime.fromisoformat(issued_at)
                     - datetime.fromisoformat(created_at)).total_seconds()
            delays[period_start(_paris_day(issued_at), by)].append(max(0.0, delay))
    starts = set(seen) | set(delays)
    if not starts and since is None:
        return StatsReport(by=by, since=since, periods=[])
    first = period_start(since, by) if since is not None else min(starts)
    last = max([period_start(today, by), *starts])
    step = timedelta(days=7 if by == "week" else 1)
    periods: list[PeriodStats] = []
    current = first
    while current <= last:
        counts = {o: len(seen[current][o]) if current in seen else 0 for o in Outcome}
        timed = delays.get(current, [])
        periods.append(PeriodStats(
            start=current, end=current + step - timedelta(days=1), counts=counts,
            median_seconds=statistics.median(timed) if timed else None, codes_timed=len(timed),
        ))
        current += step
    every_delay = [d for values in delays.values() for d in values]
    return StatsReport(
        by=by, since=since, periods=periods,
        totals={o: sum(p.counts[o] for p in periods) for o in Outcome},
        median_seconds=statistics.median(every_delay) if every_delay else None,
        codes_timed=len(every_delay),
    )


def empty_report(by: Grouping, since: date, today: date) -> StatsReport:
    """Every period from ``since`` to ``today`` at zero (before the first event: no ledger)."""
    step = timedelta(days=7 if by == "week" else 1)
    periods, current = [], period_start(since, by)
    while current <= period_start(today, by):
        periods.append(PeriodStats(current, current + step - timedelta(days=1),
                                   dict.fromkeys(Outcome, 0), None))
        current += step
    return StatsReport(by=by, since=since, periods=periods, totals=dict.fromkeys(Outcome, 0))


def write_back_backlog(ledger_path: Path, now: datetime) -> tuple[int, float]:
    """How many issued codes wait for their write-back, and for how long (seconds) the
    oldest has waited since it was issued (0 when none waits)."""
    marks = ",".join("?" * len(_WAITING_FOR_WRITE_BACK))
    with read_only(ledger_path) as conn:
        count, oldest = conn.execute(
            f"SELECT count(DISTINCT i.id), min(t.at) FROM issuances i JOIN transitions t "
            f"ON t.issuance_id = i.id AND t.to_state = 'issued' WHERE i.state IN ({marks}) "
            "AND i.set_aside IS NULL", _WAITING_FOR_WRITE_BACK,
        ).fetchone()
    if not count or oldest is None:
        return 0, 0.0
    return int(count), max(0.0, (now - datetime.fromisoformat(oldest)).total_seconds())


def report_csv(report: StatsReport) -> str:
    """The report as CSV (comma, UTF-8, one period a row; column names are stable machine
    names: period_start, period_end, the outcomes, median_minutes_result_to_code)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["period_start", "period_end", *(o.value for o in Outcome),
                     "median_minutes_result_to_code"])
    for period in report.periods:
        median = "" if period.median_seconds is None else f"{period.median_seconds / 60:.1f}"
        writer.writerow([period.start.isoformat(), period.end.isoformat(),
                         *(period.counts[o] for o in Outcome), median])
    return out.getvalue()
