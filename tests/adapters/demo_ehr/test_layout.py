"""The screens at the sizes GPs' laptops have (1366×768, 1280×800), in French: the dialog's
buttons are on screen without scrolling, and the top bar stays one line with the pending badge.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.adapters.demo_ehr.browser import (
    header_rows,
    login,
    off_screen,
    open_consultation,
    record_diagnosis,
    the_dialog,
)
from tests.adapters.demo_ehr.conftest import RunningEhr

VIEWPORTS = [(1366, 768), (1280, 800)]


@pytest.fixture(params=VIEWPORTS, ids=lambda size: f"{size[0]}x{size[1]}")
def sized_page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    width, height = request.param
    context = browser.new_context(viewport={"width": width, "height": height},
                                  locale="fr-FR", timezone_id="Europe/Paris")
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


def test_the_dialog_buttons_are_on_screen_and_the_header_is_one_line(
    sized_page: Page, corpus_ehr: RunningEhr
) -> None:
    page = sized_page
    login(page, corpus_ehr)
    assert header_rows(page) == 1
    open_consultation(page, corpus_ehr, "DOS-8090")
    record_diagnosis(page, "U07.14")  # confirmed, no RT-PCR on file: the longest dialog
    dialog = the_dialog(page)
    expect(dialog.get_by_label("Motif du refus")).to_be_visible()
    buttons = dialog.get_by_role("button")
    assert buttons.count() >= 3
    assert off_screen(buttons) == []
    assert off_screen(dialog.get_by_label("Motif du refus")) == []
    expect(page.locator(".mainnav .count")).to_be_visible()  # the request waits: the badge
    assert header_rows(page) == 1

    dialog.get_by_role("button", name="Décider plus tard").click()
    expect(dialog).to_be_hidden()
    page.goto(f"{corpus_ehr.url}/pending")
    assert header_rows(page) == 1
    page.get_by_role("link", name="Examiner").first.click()
    assert off_screen(the_dialog(page).get_by_role("button")) == []
