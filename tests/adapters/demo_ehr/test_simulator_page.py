"""The demo's simulator page: approving by hand and a short code validity are set from the
EHR's screens (no curl), and do what they say in a real browser."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlsplit

from playwright.sync_api import Page, expect

from tests.adapters.demo_ehr.browser import (
    BERNARD,
    approve,
    issued_code,
    login,
    open_consultation,
    record_diagnosis,
    shot,
    the_dialog,
)
from tests.adapters.demo_ehr.conftest import RunningEhr


def test_approve_by_hand_and_a_one_minute_code_are_set_on_the_simulator_page(
    page: Page, corpus_ehr: RunningEhr
) -> None:
    state = corpus_ehr.simulator.state
    try:
        login(page, corpus_ehr)
        page.get_by_role("link", name="Simulateur").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Simulateur de démonstration")
        page.get_by_label("Réponse de l'e-CPS — Dr Paul BERNARD").select_option(
            label="à valider à la main")
        page.get_by_role("button", name="Enregistrer — Dr Paul BERNARD").click()
        expect(page.get_by_test_id("sim-notice")).to_contain_text("Réponse de l'e-CPS")
        expect(page.get_by_label("Réponse de l'e-CPS — Dr Paul BERNARD")).to_have_value("never")
        page.get_by_label("Validité", exact=True).select_option(label="1 min")
        page.get_by_role("button", name="Appliquer").click()
        expect(page.get_by_test_id("sim-notice")).to_contain_text("prochains codes")
        expect(page.get_by_label("Validité", exact=True)).to_have_value("1.0")
        shot(page, "16-simulator-settings")
        page.get_by_role("button", name="Se déconnecter").click()

        # Dr BERNARD's e-CPS app now waits for the panel's button
        page.select_option("#practitioner", BERNARD)
        page.get_by_role("button", name="Se connecter avec l'e-CPS").click()
        digits = page.locator(".binding-big")
        expect(digits).to_have_text(re.compile(r"^\d\d$"))
        panel = page.locator(".ecps")
        expect(panel.locator(".binding-digits")).to_have_text(digits.inner_text())
        assert urlsplit(page.url).path == "/login/wait"  # not logged in before approving
        panel.get_by_role("button", name="Valider sur l'e-CPS").click()
        page.wait_for_url(lambda url: url.endswith("/patients"))
        expect(page.locator(".who")).to_have_text("Dr Paul BERNARD")

        # a code valid one minute: the countdown shows less than a minute left
        open_consultation(page, corpus_ehr, "DOS-5120")
        record_diagnosis(page, "U07.1")
        approve(the_dialog(page), qr=True, rtpcr=True)
        issuance_id, _ = issued_code(page)
        expect(page.locator(".countdown-value").first).to_have_text(
            re.compile(r"^00 min [0-5]\d s$"))
        record = corpus_ehr.runtime.ledger.get(issuance_id)
        assert record.valid_until is not None and record.valid_from is not None
        assert record.valid_until - record.valid_from == timedelta(minutes=1)
    finally:
        state.options.approvals.pop(BERNARD, None)
        state.set_code_validity(60)
