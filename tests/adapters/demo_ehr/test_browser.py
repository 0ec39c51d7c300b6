"""The physician's experience in a real browser: Debian's chromium driven by Playwright against
the demo EHR, the simulator and a real runtime (see conftest). Each test has its own patient.

Screenshots of the key screens go to docs/screenshots/ (shown by docs/demo.md).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from prostop_plugin.events import (
    Coding,
    DiagnosisEvent,
    EventSource,
    IssuanceState,
    LabResult,
)
from prostop_plugin.simulator.options import Approval
from tests.adapters.demo_ehr.browser import (
    BERNARD,
    CHROMIUM,
    CHROMIUM_ARGS,
    approve,
    contrast_ratio,
    css_rgb,
    focus_is_in_dialog,
    import_file,
    issued_code,
    login,
    open_consultation,
    record_diagnosis,
    shot,
    the_dialog,
    unlabelled_fields,
)
from tests.adapters.demo_ehr.conftest import RunningEhr, corpus_file

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="Debian's chromium is not installed at /usr/bin/chromium "
    "(apt-get install chromium; .ci/run installs it)",
)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="fr-FR",
                                  timezone_id="Europe/Paris")
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


def test_confirmed_case_from_an_imported_result_to_the_patients_phone(
    page: Page, running_ehr: RunningEhr
) -> None:
    login(page, running_ehr)
    assert unlabelled_fields(page) == []
    shot(page, "02-patients")
    open_consultation(page, running_ehr, "DOS-4411")
    assert unlabelled_fields(page) == []
    import_file(page, corpus_file("oru_rtpcr_positive.hl7"))

    dialog = the_dialog(page)
    assert focus_is_in_dialog(page)
    expect(dialog).to_contain_text("Cas confirmé de COVID-19")
    expect(dialog).to_contain_text("LABO-GARONNE")
    expect(dialog).to_contain_text("date du test, le 18/11/2020")
    expect(dialog.get_by_label(re.compile("QR code SI-DEP"))).not_to_be_checked()
    assert unlabelled_fields(page) == []
    shot(page, "03-dialog-confirmed")

    approve(dialog)  # without the attestation: the engine refuses, the dialog says why
    dialog = the_dialog(page)
    expect(dialog.get_by_test_id("refusal")).to_contain_text("QR code SI-DEP")
    assert focus_is_in_dialog(page)
    shot(page, "04-refused-without-attestation")

    approve(dialog, qr=True)
    issuance_id, code = issued_code(page)
    expect(page.get_by_test_id("consultation-summary")).to_contain_text(
        f"Déclaration StopCovid : code {code}")
    expect(page.locator(".countdown-value").first).to_have_text(re.compile(r"\d+ min \d+ s"))
    shot(page, "05-code-issued", full_page=True)

    colours = page.evaluate("""() => { const s = getComputedStyle(
        document.querySelector('.code-display')); return [s.color, s.backgroundColor]; }""")
    assert contrast_ratio(css_rgb(colours[0]), css_rgb(colours[1])) >= 4.5
    assert page.evaluate("() => document.fonts.check('700 48px \"Prostop Code\"')")

    page.goto(f"{running_ehr.url}/patients/DOS-4411")
    expect(page.get_by_test_id("record-note").first).to_contain_text(f"Code : {code}")
    shot(page, "06-record", full_page=True)

    page.goto(f"{running_ehr.url}/issuances/{issuance_id}/handout")
    sheet = page.locator(".sheet")
    expect(sheet).to_contain_text("Votre code de déclaration StopCovid")
    expect(sheet).to_contain_text(f"Saisissez le code à 6 caractères : {code}")
    expect(sheet).to_contain_text("Date du test : 18/11/2020")
    expect(sheet.locator(".code-display")).to_have_attribute("data-code", code)
    shot(page, "07-handout", full_page=True)
    pdf = page.request.get(f"{running_ehr.url}/issuances/{issuance_id}/handout.pdf")
    assert pdf.ok and pdf.headers["content-type"] == "application/pdf"
    assert pdf.body().startswith(b"%PDF")

    page.goto(f"{running_ehr.url}/phone")
    assert unlabelled_fields(page) == []
    page.fill("#code", f"{code[:3]} {code[3:]}".lower())  # as a patient may type it
    page.get_by_role("button", name="Valider le code").click()
    expect(page.get_by_test_id("phone-result")).to_contain_text("Code accepté")
    shot(page, "08-phone-accepted")
    page.fill("#code", code)
    page.get_by_role("button", name="Valider le code").click()
    expect(page.get_by_test_id("phone-result")).to_contain_text("déjà été utilisé")
    shot(page, "09-phone-already-used")

    record = running_ehr.runtime.ledger.get(issuance_id)
    assert record.state == IssuanceState.WRITTEN_BACK
    assert record.event.source.adapter == "demo_ehr"
