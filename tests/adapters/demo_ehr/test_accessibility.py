"""Accessibility in a real browser: axe-core (from its npm package, installed by `make setup`
under .venv/node, loaded from disk) on the main screens, the code as assistive technologies
read it, and the focus going back to what opened a dialog.

No serious or critical axe violation is allowed on: login, patients, consultation with its
dialog, the code, the patient record, the handout, the pending list, the patient's phone, the
simulator's settings.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.adapters.demo_ehr.browser import (
    approve,
    issued_code,
    login,
    open_consultation,
    record_diagnosis,
    the_dialog,
)
from tests.adapters.demo_ehr.conftest import RunningEhr
from tests.fixtures.browser import french_context

ROOT = Path(__file__).resolve().parents[3]
#: where `make setup` (and .ci/run through it) installs axe-core; PROSTOP_AXE_CORE overrides
AXE_CORE = Path(os.environ.get("PROSTOP_AXE_CORE")
                or ROOT / ".venv" / "node" / "node_modules" / "axe-core" / "axe.min.js")
BLOCKING = ("serious", "critical")


@pytest.fixture(scope="module")
def axe_source() -> str:
    if not AXE_CORE.is_file():
        pytest.fail(f"axe-core is not installed at {AXE_CORE}: run `make setup` (it runs "
                    "`npm install --prefix .venv/node axe-core@…`), or set PROSTOP_AXE_CORE "
                    "to an axe.min.js", pytrace=False)
    return AXE_CORE.read_text(encoding="utf-8")


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A laptop's screen (the conftest's page is a desktop's)."""
    context = french_context(browser, 1366, 768)
    yield context.new_page()
    context.close()


def violations(page: Page, axe: str) -> list[str]:
    """axe-core's serious and critical violations on the page as it is (WCAG 2.1 A/AA rules
    and best practices), one line each with where."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(content=axe)
    results: dict[str, Any] = page.evaluate("""async () => await axe.run(document, {
        resultTypes: ['violations'],
        runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa',
                                        'best-practice']},
    })""")
    return [f"{v['impact']} {v['id']}: {v['help']} — "
            + ", ".join(str(n["target"]) for n in v["nodes"][:4])
            for v in results["violations"] if v["impact"] in BLOCKING]


def accessible_name_of_the_code(page: Page) -> str:
    """What a screen reader announces for the code (the accessibility tree, not the DOM)."""
    snapshot = page.locator(".code-display").first.aria_snapshot()
    return re.sub(r"\s+", " ", snapshot)


def test_main_screens_have_no_serious_accessibility_violation(
    page: Page, corpus_ehr: RunningEhr, axe_source: str
) -> None:
    page.goto(f"{corpus_ehr.url}/login")
    assert violations(page, axe_source) == [], "login"
    login(page, corpus_ehr)
    assert violations(page, axe_source) == [], "patients"

    open_consultation(page, corpus_ehr, "DOS-6230")
    assert violations(page, axe_source) == [], "consultation"
    record_diagnosis(page, "U07.1")
    dialog = the_dialog(page)
    assert violations(page, axe_source) == [], "dialog"

    approve(dialog, qr=True, rtpcr=True)
    issuance_id, code = issued_code(page)
    assert violations(page, axe_source) == [], "code"
    spoken = accessible_name_of_the_code(page)
    assert " ".join(code) in spoken, spoken  # read character by character

    page.goto(f"{corpus_ehr.url}/patients/DOS-6230")
    assert violations(page, axe_source) == [], "record"
    page.goto(f"{corpus_ehr.url}/issuances/{issuance_id}/handout")
    assert violations(page, axe_source) == [], "handout"
    assert " ".join(code) in accessible_name_of_the_code(page)
    page.goto(f"{corpus_ehr.url}/pending")
    assert violations(page, axe_source) == [], "pending"
    page.goto(f"{corpus_ehr.url}/phone")
    assert violations(page, axe_source) == [], "phone"
    page.goto(f"{corpus_ehr.url}/simulator")
    assert violations(page, axe_source) == [], "simulator"


def test_focus_returns_to_what_opened_the_dialog(page: Page, corpus_ehr: RunningEhr) -> None:
    login(page, corpus_ehr)
    open_consultation(page, corpus_ehr, "DOS-7345")
    record_diagnosis(page, "U07.1")
    dialog = the_dialog(page)
    issuance_id = dialog.get_attribute("data-issuance")
    dialog.get_by_role("button", name="Décider plus tard").click()
    expect(dialog).to_be_hidden()
    # opened by recording the diagnosis: focus goes to the request's card, to its button
    opener = page.locator(f"#issuance-{issuance_id}").get_by_role("link", name="Examiner")
    expect(opener).to_be_focused()

    page.keyboard.press("Enter")
    dialog = the_dialog(page)
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(opener).to_be_focused()

    page.goto(f"{corpus_ehr.url}/pending")
    page.locator("main").get_by_role("link", name="Examiner").first.click()
    dialog = the_dialog(page)
    issuance_id = dialog.get_attribute("data-issuance")
    dialog.get_by_role("button", name="Décider plus tard").click()
    expect(page.locator(f"main a[href='/pending?dialog={issuance_id}']")).to_be_focused()
