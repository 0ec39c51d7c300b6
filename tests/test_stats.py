"""Statistics on a generated ledger: counts per outcome and week or day (Paris time), the median
delay from the result to the code, CSV, `prostop stats`; computed without any key (no row is
decrypted)."""

from __future__ import annotations

import csv
import io
import shutil
import statistics
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from prostop_plugin.cli import main
from prostop_plugin.errors import LedgerError
from prostop_plugin.keys import KeyRing
from prostop_plugin.ledger import Ledger
from prostop_plugin.models import IssuanceState
from prostop_plugin.stats import Outcome, compute_stats, report_csv, write_back_backlog
from tests.fixtures.history import write_history, write_issuance

OUT = Outcome


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    store = Ledger(tmp_path / "var" / "ledger.sqlite3", KeyRing.open(tmp_path / "var" / "keys"))
    yield store
    store.close()


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def two_weeks(ledger: Ledger) -> Path:
    """Six issuances over the weeks of 16 and 23 November 2020 (Paris is UTC+1 then)."""
    write_issuance(ledger, "written_back", utc("2020-11-17 09:00"), 1)  # code in 31.2 min
    write_issuance(ledger, "not_eligible", utc("2020-11-22 23:20"), 2)  # Monday in Paris
    write_issuance(ledger, "declined", utc("2020-11-22 19:00"), 3)  # offered Sun, declined Sun
    write_issuance(ledger, "declined", utc("2020-11-22 22:30"), 4)  # declined Monday
    write_issuance(ledger, "validity_passed", utc("2020-11-24 08:00"), 5)  # code in 61.2 min
    write_issuance(ledger, "issue_failed", utc("2020-11-24 09:00"), 6)
    write_issuance(ledger, "write_back_failed", utc("2020-11-25 10:00"), 7)  # code in 6.2 min
    return ledger.path


def test_weekly_counts_in_paris_time(two_weeks: Path) -> None:
    report = compute_stats(two_weeks, by="week", today=date(2020, 11, 25))
    assert [p.start for p in report.periods] == [date(2020, 11, 16), date(2020, 11, 23)]
    first, second = report.periods
    assert first.end == date(2020, 11, 22)
    assert first.counts == {OUT.OFFERED: 3, OUT.CONFIRMED: 1, OUT.DECLINED: 1, OUT.NOT_ELIGIBLE: 0,
                            OUT.ISSUED: 1, OUT.VALIDITY_PASSED: 0, OUT.FAILED: 0}
    assert second.counts == {OUT.OFFERED: 3, OUT.CONFIRMED: 3, OUT.DECLINED: 1, OUT.NOT_ELIGIBLE: 1,
                             OUT.ISSUED: 2, OUT.VALIDITY_PASSED: 1, OUT.FAILED: 2}
    assert first.median_seconds == pytest.approx(31.2 * 60)
    assert second.median_seconds == pytest.approx((61.2 + 6.2) / 2 * 60)
    assert report.median_seconds == pytest.approx(31.2 * 60)
    assert report.totals[OUT.OFFERED] == 6 and report.codes_timed == 3


def test_daily_counts_and_quiet_days(two_weeks: Path) -> None:
    report = compute_stats(two_weeks, by="day", since=date(2020, 11, 20),
                           today=date(2020, 11, 26))
    days = {p.start: p for p in report.periods}
    assert list(days) == [date(2020, 11, d) for d in range(20, 27)]
    assert sum(days[date(2020, 11, 20)].counts.values()) == 0  # a quiet day is listed
    assert days[date(2020, 11, 23)].counts[OUT.NOT_ELIGIBLE] == 1  # 23:20 UTC is 00:21 Paris
    assert days[date(2020, 11, 23)].counts[OUT.DECLINED] == 1
    assert days[date(2020, 11, 22)].counts[OUT.DECLINED] == 1
    assert days[date(2020, 11, 26)].median_seconds is None
    assert date(2020, 11, 17) not in days  # before --since


def test_csv_has_stable_machine_columns(two_weeks: Path) -> None:
    text = report_csv(compute_stats(two_weeks, today=date(2020, 11, 25)))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == ["period_start", "period_end", "offered", "confirmed", "declined",
                             "not_eligible", "issued", "validity_passed", "failed",
                             "median_minutes_result_to_code"]
    assert rows[1]["period_start"] == "2020-11-23" and rows[1]["failed"] == "2"
    assert rows[0]["median_minutes_result_to_code"] == "31.2"


def test_a_generated_ledger_without_its_keys(ledger: Ledger, tmp_path: Path) -> None:
    start = utc("2020-10-05 00:00")
    written = write_history(ledger, start, days=56, per_day=5)
    ledger.close()
    shutil.rmtree(tmp_path / "var" / "keys")  # nothing can be decrypted: nothing needs to be
    report = compute_stats(ledger.path, today=date(2020, 11, 29))
    assert len(report.periods) == 8
    for outcome, states in {OUT.OFFERED: ["awaiting_confirmation"], OUT.ISSUED: ["issued"],
                            OUT.FAILED: ["issue_failed", "write_back_failed"],
                            OUT.VALIDITY_PASSED: ["expired"]}.items():
        expected = sum(1 for w in written
                       if any(s.value in states for s, _ in w.steps))
        assert report.totals[outcome] == expected, outcome
        assert sum(p.counts[outcome] for p in report.periods) == expected
    delays = [(at - w.created_at).total_seconds() for w in written for s, at in w.steps
              if s is IssuanceState.ISSUED]
    assert report.median_seconds == pytest.approx(statistics.median(delays))
    since = compute_stats(ledger.path, since=date(2020, 11, 16), today=date(2020, 11, 29))
    assert [p.start for p in since.periods] == [date(2020, 11, 16), date(2020, 11, 23)]
    assert since.periods == report.periods[-2:]


def test_the_write_back_backlog(ledger: Ledger) -> None:
    now = utc("2020-11-25 12:00")
    write_issuance(ledger, "written_back", utc("2020-11-25 09:00"), 1)
    assert write_back_backlog(ledger.path, now) == (0, 0.0)
    write_issuance(ledger, "write_back_failed", utc("2020-11-25 10:00"), 2)
    count, oldest = write_back_backlog(ledger.path, now)
    assert count == 1 and oldest == pytest.approx(2 * 3600 - 6.2 * 60)


def test_no_ledger_yet(tmp_path: Path) -> None:
    with pytest.raises(LedgerError, match="no ledger yet"):
        compute_stats(tmp_path / "nothing.sqlite3")


def test_prostop_stats_in_french_in_english_and_as_csv(
    two_weeks: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = two_weeks.parent.parent / "prostop.toml"
    config.write_text('data_dir = "var"\n')
    monkeypatch.delenv("PROSTOP_CONFIG", raising=False)
    assert main(["--config", str(config), "stats", "--since", "2020-11-16"]) == 0
    out = capsys.readouterr().out
    assert "Semaine du" in out and "Validité dépassée" in out and "16/11/2020" in out
    assert "31 min" in out and "DUPONT" not in out
    assert "ne peut pas savoir si le patient l'a saisi" in out
    assert main(["--config", str(config), "stats", "--since", "2020-11-16", "--lang", "en",
                 "--by", "day"]) == 0
    out = capsys.readouterr().out
    assert "Validity passed" in out and "17/11/2020" in out
    assert main(["--config", str(config), "stats", "--since", "2020-11-16", "--csv"]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[1][:2] == ["2020-11-16", "2020-11-22"]
    monkeypatch.chdir(two_weeks.parent.parent)
    (two_weeks.parent.parent / "empty.toml").write_text('data_dir = "nothing"\n')
    assert main(["--config", "empty.toml", "stats"]) == 1
    assert "no ledger yet" in capsys.readouterr().err


def test_an_issuance_counts_once_per_outcome_and_period(ledger: Ledger) -> None:
    """An issuance that fails, is retried and fails again counts once as failed that week."""
    written = write_issuance(ledger, "issue_failed", utc("2020-11-24 09:00"), 1)
    record = ledger.get(written.issuance_id)
    at = written.steps[-1][1]
    for state in (IssuanceState.APPROVED, IssuanceState.ISSUING, IssuanceState.ISSUE_FAILED):
        previous, record.state = record.state, state
        at += timedelta(minutes=5)
        with ledger.transaction() as conn:
            ledger.save(conn, record, expect=previous, actor="test", now=at)
    report = compute_stats(ledger.path, today=date(2020, 11, 25))
    assert report.totals[OUT.FAILED] == 1 and report.totals[OUT.CONFIRMED] == 1
