"""The statistics page in a real browser (Debian's chromium): no serious accessibility
violation (axe-core), and its screenshot (docs/screenshots/stats.png, refreshed with
PROSTOP_UPDATE_SCREENSHOTS=1)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Page

from prostop_plugin.app import Prostop
from prostop_plugin.console_stats import stats_router
from tests.adapters.demo_ehr.browser import SCRATCH
from tests.adapters.demo_ehr.test_accessibility import AXE_CORE
from tests.fixtures.builders import settings_for
from tests.fixtures.history import write_history

ROOT = Path(__file__).resolve().parents[2]
TODAY = date(2020, 12, 27)


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A page of the session's shared chromium (tests/fixtures/browser.py)."""
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="fr-FR")
    yield context.new_page()
    context.close()


def test_the_statistics_page_in_chromium(tmp_path: Path, page: Page) -> None:
    with Prostop.open(settings_for(tmp_path)) as runtime:
        write_history(runtime.ledger, datetime(2020, 10, 5, tzinfo=UTC), days=84, per_day=6)
        app = FastAPI()
        app.include_router(stats_router(runtime, today=lambda: TODAY))
        html = TestClient(app).get("/statistiques").text
    page.set_content(html)
    assert page.get_by_role("img", name="Graphique : demandes par semaine").is_visible()
    table = page.get_by_role("table", name="Tableau : demandes par semaine (mêmes données que "
                             "le graphique)")
    assert table.get_by_role("row").count() == 1 + 12 + 1
    box_chart = page.locator("figure").bounding_box()
    box_table = page.locator(".stats-table").bounding_box()
    assert box_chart and box_table and box_table["x"] > box_chart["x"] + box_chart["width"] - 1
    assert AXE_CORE.is_file(), "axe-core is missing: make setup installs it under .venv/node"
    page.add_script_tag(content=AXE_CORE.read_text(encoding="utf-8"))
    results: dict[str, Any] = page.evaluate("""async () => await axe.run(document, {
        resultTypes: ['violations'], runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa',
        'wcag21a', 'wcag21aa', 'best-practice']}})""")
    serious = [f"{v['id']}: {v['help']}" for v in results["violations"]
               if v["impact"] in ("serious", "critical")]
    assert serious == []
    folder = (ROOT / "docs" / "screenshots" if os.environ.get("PROSTOP_UPDATE_SCREENSHOTS")
              else SCRATCH)
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / "stats.png"), full_page=True)
