"""The statistics page is part of the console: behind its login, in its navigation."""

from __future__ import annotations

import httpx

from tests.console.conftest import RunningConsole, log_in


def test_the_statistics_page_needs_the_console_login(
    console: RunningConsole, browser_client: httpx.Client
) -> None:
    with httpx.Client(follow_redirects=False, timeout=10.0) as anonymous:
        refused = anonymous.get(console.url + "/statistiques")
        assert refused.status_code in (302, 303, 401, 403)
    page = log_in(browser_client, console)
    assert 'href="/statistiques"' in page.text
    stats = browser_client.get(console.url + "/statistiques")
    assert stats.status_code == 200 and "Statistiques" in stats.text
    csv = browser_client.get(console.url + "/statistiques.csv")
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
