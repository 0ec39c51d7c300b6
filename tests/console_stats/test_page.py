"""The statistics page through FastAPI's TestClient: the chart (SVG drawn on the server), the
table beside it with the same figures, French first, the CSV, the console's login check."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.testclient import TestClient

from prostop_plugin.app import Prostop
from prostop_plugin.console_stats import build_chart, default_since, stats_router
from prostop_plugin.console_stats.chart import nice_step
from prostop_plugin.stats import Outcome, PeriodStats, StatsReport, compute_stats
from tests.fixtures.builders import settings_for
from tests.fixtures.history import write_history

TODAY = date(2020, 11, 29)
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Prostop]:
    with Prostop.open(settings_for(tmp_path)) as app:
        write_history(app.ledger, datetime(2020, 10, 5, tzinfo=UTC), days=56, per_day=5)
        yield app


@pytest.fixture
def client(runtime: Prostop) -> TestClient:
    app = FastAPI()
    app.include_router(stats_router(runtime, today=lambda: TODAY))
    return TestClient(app)


def svg_of(html: str) -> ET.Element:
    found = re.search(r"<svg.*?</svg>", html, re.S)
    assert found, "an inline SVG chart"
    return ET.fromstring(found.group(0))


def test_the_page_in_french_with_a_chart_and_the_same_figures_in_a_table(
    client: TestClient, runtime: Prostop
) -> None:
    response = client.get("/statistiques")
    assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
    html = response.text
    assert '<html lang="fr">' in html and "Statistiques StopCovid du cabinet" in html
    assert "<script" not in html and "http" not in html.replace(
        "http://www.w3.org/2000/svg", "")  # nothing loaded from anywhere
    svg = svg_of(html)
    assert svg.get("role") == "img"
    assert svg.find(f"{SVG}title") is not None and svg.find(f"{SVG}desc") is not None
    report = compute_stats(runtime.settings.ledger_path, by="week",
                           since=default_since("week", TODAY), today=TODAY)
    bars = svg.findall(f"{SVG}rect")
    assert len(bars) == len(report.periods) * len(Outcome) == 12 * 7
    titles = [bar.find(f"{SVG}title").text for bar in bars]  # type: ignore[union-attr]
    first = report.periods[0]
    assert titles[0] == f"{first.start:%d/%m/%Y} — Proposés : {first.counts[Outcome.OFFERED]}"
    assert "Validité dépassée" in html and "Délai médian résultat → code" in html
    rows = re.findall(r'<tr>\s*<th scope="row">(\d\d/\d\d/\d{4})</th>(.*?)</tr>', html, re.S)
    assert [r[0] for r in rows] == [f"{p.start:%d/%m/%Y}" for p in report.periods]
    for (_, cells), period in zip(rows, report.periods, strict=True):
        numbers = re.findall(r"<td>(\d+)</td>", cells)
        assert [int(n) for n in numbers] == [period.counts[o] for o in Outcome]
    for private in ("DUPONT", "Camille", "DOS-"):
        assert private not in html


def test_english_by_day_and_the_csv(client: TestClient) -> None:
    html = client.get("/statistiques", params={"by": "day", "lang": "en",
                                               "since": "2020-11-20"}).text
    assert '<html lang="en">' in html and "Validity passed" in html
    assert len(svg_of(html).findall(f"{SVG}rect")) == 10 * 7  # 20 to 29 November
    csv_answer = client.get("/statistiques.csv", params={"since": "2020-11-16"})
    assert csv_answer.headers["content-type"].startswith("text/csv")
    assert "attachment" in csv_answer.headers["content-disposition"]
    lines = csv_answer.text.splitlines()
    assert lines[0].startswith("period_start,period_end,offered") and len(lines) == 1 + 2


def test_an_empty_date_a_bad_date_and_no_ledger_yet(tmp_path: Path) -> None:
    with Prostop.open(settings_for(tmp_path)) as runtime:
        runtime.settings.ledger_path.unlink()  # before the first event
        app = FastAPI()
        app.include_router(stats_router(runtime, today=lambda: TODAY))
        client = TestClient(app)
        page = client.get("/statistiques", params={"since": "", "by": "week"})
        assert page.status_code == 200 and page.text.count('<th scope="row">') == 12 + 1
        bad = client.get("/statistiques", params={"since": "29/11/2020"})
        assert bad.status_code == 400 and "YYYY-MM-DD" in bad.text


def test_the_console_puts_its_login_check_in_front(runtime: Prostop) -> None:
    def logged_in(request: Request) -> None:
        if request.headers.get("x-session") != "ok":
            raise HTTPException(401)

    app = FastAPI()
    app.include_router(stats_router(runtime, dependencies=[Depends(logged_in)],
                                    locale_of=lambda request: "en", today=lambda: TODAY))
    client = TestClient(app)
    assert client.get("/statistiques").status_code == 401
    assert client.get("/statistiques.csv").status_code == 401
    page = client.get("/statistiques", headers={"x-session": "ok"})
    assert page.status_code == 200 and '<html lang="en">' in page.text  # the console's choice


def test_chart_scale_and_labels() -> None:
    assert [nice_step(n) for n in (0, 3, 7, 12, 48, 230)] == [1, 1, 2, 5, 10, 50]
    periods = [PeriodStats(date(2020, 11, d), date(2020, 11, d), dict.fromkeys(Outcome, d),
                           None) for d in range(1, 31)]
    chart = build_chart(StatsReport("day", None, periods), {o: o.value for o in Outcome},
                        lambda d: d.isoformat(), colon=": ")
    assert chart.ticks[-1].value >= 30 and len(chart.labels) <= 12
    assert chart.bars[-1].title == "2020-11-30 — failed: 30"
    assert chart.bars[-1].height == max(b.height for b in chart.bars)
    assert all(b.y + b.height == pytest.approx(chart.top + chart.plot_height) for b in chart.bars)
