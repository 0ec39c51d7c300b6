"""The physician's experience in a real browser: Debian's chromium driven by Playwright against
the demo EHR, the simulator and a real runtime (see conftest). Each test has its own patient.

Screenshots of the key screens go to docs/screenshots/ (shown by docs/demo.md).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from playwright.sync_api import FilePayload, Page, expect

from prostop_demo_ehr.samples import sample_file
from prostop_plugin.models import IssuanceState
from prostop_plugin.readers import read_bytes
from prostop_plugin.simulator.options import Approval
from prostop_plugin.texts.formatting import PARIS, format_date
from tests.adapters.demo_ehr.browser import (
    BERNARD,
    CHROMIUM,
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
    wait_written_back,
)
from tests.adapters.demo_ehr.conftest import RunningEhr, corpus_file

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="Debian's chromium is not installed at /usr/bin/chromium "
    "(apt-get install chromium; .ci/run installs it)",
)


def today() -> datetime:
    return datetime.now(PARIS)


def day(offset: int) -> tuple[str, str]:
    """(ISO for a date input, French display) of today + offset days."""
    moment = (today() + timedelta(days=offset)).date()
    return moment.isoformat(), format_date(moment, "fr")


def upload_sample(page: Page, ehr: RunningEhr, patient_id: str, kind: str) -> None:
    """A lab file made for this patient with today's dates, uploaded like any other file."""
    patient = ehr.plugin.store().patient(patient_id)
    assert patient is not None
    data = sample_file(kind, patient, datetime.now(PARIS), "CABINET-DURAND")
    payload: FilePayload = {"name": f"{kind}.hl7", "mimeType": "application/hl7-v2",
                            "buffer": data}
    page.set_input_files("#file", files=[payload])
    page.locator("form[action$='/import'] button[type=submit]:not([formaction])").click()


def test_login_waits_for_the_ecps_approval_with_the_same_two_digits(
    page: Page, running_ehr: RunningEhr
) -> None:
    approvals = running_ehr.simulator.state.options.approvals
    approvals[BERNARD] = Approval(mode="never")
    try:
        page.goto(f"{running_ehr.url}/login")
        assert unlabelled_fields(page) == []
        page.select_option("#practitioner", BERNARD)
        page.get_by_role("button", name="Se connecter avec l'e-CPS").click()
        digits = page.locator(".binding-big")
        expect(digits).to_have_text(re.compile(r"^\d\d$"))
        panel = page.locator(".ecps")
        expect(panel.locator(".binding-digits")).to_have_text(digits.inner_text())
        shot(page, "01-login-ecps")
        panel.get_by_role("button", name="Valider sur l'e-CPS").click()
        page.wait_for_url(lambda url: url.endswith("/patients"))
        expect(page.locator(".who")).to_have_text("Dr Paul BERNARD")
    finally:
        approvals.pop(BERNARD, None)


def test_confirmed_case_from_an_imported_result_to_the_patients_phone(
    page: Page, running_ehr: RunningEhr
) -> None:
    login(page, running_ehr)
    assert unlabelled_fields(page) == []
    expect(page.locator("table")).to_contain_text("LEFÈVRE Hélène")
    expect(page.locator("table")).to_contain_text("N'GUYEN Zoé")
    shot(page, "02-patients")
    open_consultation(page, running_ehr, "DOS-4411")
    assert unlabelled_fields(page) == []
    upload_sample(page, running_ehr, "DOS-4411", "rtpcr_positive")
    _, yesterday = day(-1)

    dialog = the_dialog(page)
    assert focus_is_in_dialog(page)
    expect(dialog).to_contain_text("Cas confirmé de COVID-19 — DUPONT Camille (15/01/1980)")
    expect(dialog).to_contain_text("Origine : fichier importé dans le dossier — LABO-DEMO (HL7 v2)")
    expect(dialog).to_contain_text(f"date du test, le {yesterday}")
    expect(dialog.locator(".reasons")).not_to_contain_text("Date à indiquer")  # said once, below
    expect(dialog.get_by_label(re.compile("QR code SI-DEP"))).not_to_be_checked()
    binding = dialog.locator(".binding-digits").inner_text()
    expect(dialog).to_contain_text(f"affichera le nombre {binding}")
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
    expect(page.locator(".countdown-value").first).to_have_text(re.compile(r"5\d min \d\d s"))
    shot(page, "05-code-issued", full_page=True)

    colours = page.evaluate("""() => { const s = getComputedStyle(
        document.querySelector('.code-display')); return [s.color, s.backgroundColor]; }""")
    assert contrast_ratio(css_rgb(colours[0]), css_rgb(colours[1])) >= 4.5
    assert page.evaluate("() => document.fonts.check('700 48px \"Prostop Code\"')")

    wait_written_back(running_ehr, issuance_id)
    page.goto(f"{running_ehr.url}/patients/DOS-4411")
    expect(page.get_by_test_id("record-note").first).to_contain_text(f"Code : {code}")
    expect(page.locator(".summary-stopcovid").first).to_contain_text(code)
    shot(page, "06-record", full_page=True)

    page.goto(f"{running_ehr.url}/issuances/{issuance_id}/handout")
    sheet = page.locator(".sheet")
    expect(sheet).to_contain_text("Votre code de déclaration StopCovid")
    expect(sheet).to_contain_text(f"Saisissez le code à 6 caractères : {code}")
    expect(sheet).to_contain_text(f"Date du test : {yesterday}")
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
    assert record.receipts[-1].target.startswith("dossier DOS-4411")


def test_corpus_result_of_november_2020_and_a_file_for_another_patient(
    page: Page, corpus_ehr: RunningEhr
) -> None:
    login(page, corpus_ehr)
    page.goto(f"{corpus_ehr.url}/patients/DOS-0000")
    expect(page.get_by_role("alert").locator("p").first).to_have_text(
        "Ce patient ou cette demande n'existe pas (ou plus) dans ce logiciel.")
    open_consultation(page, corpus_ehr, "DOS-4411")
    page.set_input_files("#file", files=[{"name": "garbage.txt", "mimeType": "text/plain",
                                          "buffer": b"not a lab result\n"}])
    page.locator("form[action$='/import'] button[type=submit]:not([formaction])").click()
    error = page.get_by_test_id("page-error")
    expect(error).to_contain_text("Le fichier « garbage.txt » n'est pas un résultat de "
                                  "laboratoire lisible (HL7 v2, HPRIM ou CDA)")
    expect(error.locator("p").first).not_to_contain_text("unrecognised")  # English: a detail
    import_file(page, corpus_file("oru_rtpcr_negative.hl7"))  # Luc MARTIN's result
    expect(page.get_by_test_id("page-error")).to_contain_text(
        "Ce fichier concerne MARTIN LUC (02/03/1967), pas DUPONT Camille")
    import_file(page, corpus_file("oru_rtpcr_positive.hl7"))
    dialog = the_dialog(page)
    expect(dialog).to_contain_text("Cas confirmé")
    expect(dialog).to_contain_text("LABO-GARONNE")
    expect(dialog).to_contain_text("date du test, le 18/11/2020")
    approve(dialog, qr=True)
    _, code = issued_code(page)
    expect(page.get_by_test_id("consultation-summary")).to_contain_text(code)


def test_probable_case_clinical_signs_and_chest_ct(page: Page, running_ehr: RunningEhr) -> None:
    login(page, running_ehr)
    open_consultation(page, running_ehr, "DOS-5120")
    onset_iso, onset_fr = day(-3)
    ct_iso, ct_fr = day(-1)
    record_diagnosis(page, "U07.2", status="working", onset=onset_iso, signs="fièvre, toux",
                     ct_date=ct_iso)
    dialog = the_dialog(page)
    expect(dialog).to_contain_text("Cas probable de COVID-19 — MARTIN Luc")
    expect(dialog).to_contain_text(f"date de début des symptômes, le {onset_fr}")
    expect(dialog.get_by_label(re.compile("QR code SI-DEP"))).to_have_count(0)
    expect(dialog.locator(".reasons")).to_contain_text(
        f"scanner thoracique évocateur de COVID-19 (opacités en verre dépoli), réalisé le {ct_fr}")
    expect(dialog).to_contain_text("Origine : saisie en consultation")
    shot(page, "10-dialog-probable")
    approve(dialog)
    issuance_id, code = issued_code(page)
    summary = page.get_by_test_id("consultation-summary")
    expect(summary).to_contain_text("U07.2 — COVID-19, virus non identifié (provisoire)")
    expect(summary).to_contain_text("Scanner thoracique : signes évocateurs de COVID-19")
    expect(summary).to_contain_text(f"code {code} remis le")
    page.goto(f"{running_ehr.url}/issuances/{issuance_id}/handout")
    expect(page.locator(".sheet")).to_contain_text(f"Date de début des symptômes : {onset_fr}")


def test_not_eligible_case_is_explained_without_an_approve_button(
    page: Page, running_ehr: RunningEhr
) -> None:
    login(page, running_ehr)
    open_consultation(page, running_ehr, "DOS-6230")
    onset_iso, _ = day(-2)
    record_diagnosis(page, "U07.2", status="working", onset=onset_iso)
    dialog = the_dialog(page)
    assert focus_is_in_dialog(page)
    expect(dialog).to_contain_text("Pas de code StopCovid pour ce patient")
    expect(dialog).to_contain_text("LEFÈVRE Hélène")
    expect(dialog.locator(".reasons li").first).to_be_visible()
    expect(dialog.get_by_role("button", name="Confirmer et obtenir le code")).to_have_count(0)
    shot(page, "11-not-eligible")
    dialog.get_by_role("button", name="Fermer").click()
    expect(dialog).to_be_hidden()
    expect(page.locator(".code-card").first).to_contain_text("non éligible")


def test_decline_needs_a_reason_and_leaves_no_code(page: Page, running_ehr: RunningEhr) -> None:
    login(page, running_ehr)
    open_consultation(page, running_ehr, "DOS-7345")
    record_diagnosis(page, "U07.1")
    dialog = the_dialog(page)
    expect(dialog.get_by_label(re.compile("RT-PCR SARS-CoV-2 positive a été réalisée"))
           ).to_be_visible()
    dialog.get_by_role("button", name="Ne pas remettre de code").click()
    dialog = the_dialog(page)
    expect(dialog.get_by_test_id("refusal")).to_contain_text("Indiquez la raison du refus")
    dialog.get_by_label("Motif du refus").fill("La patiente a son QR code SI-DEP.")
    dialog.get_by_role("button", name="Ne pas remettre de code").click()
    card = page.locator(".code-card").first
    expect(card.get_by_test_id("state-label")).to_have_text(
        "non remis — motif : La patiente a son QR code SI-DEP")
    expect(card.locator(".code-display")).to_have_count(0)
    expect(page.get_by_test_id("consultation-summary")).to_contain_text(
        "Diagnostic : U07.1 — COVID-19, virus identifié (définitif)")
    shot(page, "12-declined")


def test_both_attestations_then_expiry_and_reissue(page: Page, running_ehr: RunningEhr) -> None:
    login(page, running_ehr)
    open_consultation(page, running_ehr, "DOS-8090")
    record_diagnosis(page, "U07.14")
    approve(the_dialog(page), qr=True)  # no RT-PCR on file: its attestation is missing
    dialog = the_dialog(page)
    expect(dialog.get_by_test_id("refusal")).to_contain_text("Aucune RT-PCR positive au dossier")
    approve(dialog, qr=True, rtpcr=True)
    first_id, first_code = issued_code(page)

    running_ehr.clock.offset = timedelta(minutes=61)  # the code was never used
    try:
        page.goto(f"{running_ehr.url}/patients/DOS-8090")
        card = page.locator(f"#issuance-{first_id}")
        expect(card.get_by_test_id("state-label")).to_have_text("code expiré")
        expect(card.locator(".code-display")).to_have_count(0)
        shot(page, "13-expired-reissue")
    finally:
        running_ehr.clock.offset = timedelta()
    card.get_by_label("J'ai vérifié avec le patient qu'il n'a pas saisi ce code").check()
    card.get_by_role("button", name="Remettre un nouveau code").click()
    dialog = the_dialog(page)
    expect(dialog.locator(".previous")).to_contain_text(f"se terminant par {first_code[-2:]}")
    approve(dialog, qr=True, rtpcr=True)
    second_id, second_code = issued_code(page)
    assert second_id != first_id
    wait_written_back(running_ehr, second_id)
    page.reload()
    expect(page.get_by_test_id("record-note").first).to_contain_text(
        "le médecin a vérifié que le patient ne l'avait pas saisi")
    assert running_ehr.runtime.ledger.get(second_id).replaces == first_id
    meta = page.locator(f"#issuance-{second_id} .meta")
    expect(meta).to_contain_text(f"remplace le code remis le {today():%d/%m/%Y} à ")
    expect(meta).to_contain_text(f"(se terminant par {first_code[-2:]})")
    expect(meta).not_to_contain_text(first_id)
    assert second_code  # a new code, its own validity


def test_pending_request_from_a_channel_without_screen_then_retry_after_failure(
    page: Page, running_ehr: RunningEhr
) -> None:
    patient = running_ehr.plugin.store().patient("DOS-9012")
    assert patient is not None
    data = sample_file("rtpcr_positive", patient, datetime.now(PARIS), "LABO-DEMO")
    event = read_bytes(data, "inbox/rtpcr.hl7", "demo_ehr")[0]  # the lab inbox, overnight
    record = running_ehr.runtime.hooks.diagnosis_recorded(
        event.model_copy(update={"patient": patient.ref()}))
    assert record is not None and record.state == IssuanceState.AWAITING_CONFIRMATION

    login(page, running_ehr)
    expect(page.locator(".banner")).to_contain_text(
        "ROUSSEAU Jeanne · fichier importé dans le dossier — LABO-DEMO (HL7 v2)")
    page.get_by_role("link", name=re.compile("Confirmations en attente")).click()
    expect(page.locator("table")).to_contain_text("ROUSSEAU Jeanne")
    expect(page.locator("table")).to_contain_text("fichier importé dans le dossier — LABO-DEMO")
    assert unlabelled_fields(page) == []
    shot(page, "14-pending")
    page.get_by_role("link", name="Examiner").first.click()
    dialog = the_dialog(page)
    expect(dialog).to_contain_text("ROUSSEAU Jeanne")

    running_ehr.simulator.queue_faults("503:3")  # every attempt of the code request fails
    approve(dialog, qr=True)
    # the physician stays where they decided, and sees what became of the request
    expect(page).to_have_url(re.compile(r"/pending\?done="))
    card = page.locator(f"#issuance-{record.id}")
    expect(page.get_by_test_id("decided")).to_contain_text("ROUSSEAU Jeanne")
    expect(card.get_by_test_id("state-label")).to_have_text("échec de l'obtention du code",
                                                            timeout=15_000)
    expect(card.locator(".alert-error")).to_contain_text("ProStopCovid")
    shot(page, "15-issue-failed-retry")

    running_ehr.simulator.queue_faults("latency=3")  # a slow code service: the progress shows
    card.get_by_role("button", name="Réessayer").click()
    progress = card.get_by_role("status")
    expect(progress).to_contain_text("Demande du code en cours")
    expect(progress).to_contain_text(f"validez le nombre {record.binding_message}")
    issuance_id, _ = issued_code(page)
    assert issuance_id == record.id
    expect(page).to_have_url(re.compile(r"/pending\?done="))
    page.goto(f"{running_ehr.url}/patients/DOS-9012")
    expect(page.locator(f"#issuance-{record.id} .code-display[data-code]")).to_be_visible()


def test_english_on_request(page: Page, running_ehr: RunningEhr) -> None:
    login(page, running_ehr)
    page.get_by_role("link", name="EN", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Patients")
    expect(page.locator("thead")).to_contain_text("Date of birth")
    page.goto(f"{running_ehr.url}/patients/DOS-4411")
    expect(page.get_by_role("link", name="Today's consultation")).to_be_visible()
    page.get_by_role("link", name="FR", exact=True).click()
    expect(page.get_by_role("link", name="Consultation du jour")).to_be_visible()
