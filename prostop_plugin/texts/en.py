"""English catalog. Keys and placeholders must match :mod:`.fr` exactly."""

from __future__ import annotations

CATALOG: dict[str, str] = {
    # decisions
    "decision.confirmed": "confirmed case",
    "decision.probable": "probable case",
    "decision.not_eligible": "not eligible",
    # issuance states
    "state.received": "received",
    "state.not_eligible": "not eligible",
    "state.awaiting_confirmation": "awaiting confirmation",
    "state.declined": "not given",
    "state.approved": "approved, code pending",
    "state.issuing": "obtaining the code",
    "state.issued": "code obtained",
    "state.written_back": "code given and written to the record",
    "state.write_back_failed": "code obtained, not written to the record",
    "state.issue_failed": "code could not be obtained",
    "state.expired": "code expired",
    "declined.because": "not given — reason: {reason}",
    # the date the app asks for, in the app's own words
    "date.symptom_onset": "symptom onset date",
    "date.test_date": "test date",
    # confirmation dialog
    "confirm.title": "StopCovid declaration: give the patient a code?",
    "confirm.lead": "COVID-19 {decision} — {patient}: a 6-character StopCovid declaration code "
    "can be given to the patient.",
    "confirm.lead_not_eligible": "{patient}: no StopCovid declaration code can be given "
    "({decision}).",
    "confirm.reasons": "Reasons",
    "confirm.evidence": "Evidence on file",
    "confirm.previous": "Previous codes",
    "confirm.patient_date": "Date the app will ask the patient for: {what}, {date}.",
    "confirm.patient_date_unknown": "Date the app will ask the patient for: symptom onset date "
    "(without symptoms, the test date), to be checked with the patient.",
    "confirm.qr_attestation": "I certify that the patient's SI-DEP QR code is unavailable or not "
    "working, and that it will not be used in parallel by anyone else.",
    "confirm.rtpcr_attestation": "I certify that a positive SARS-CoV-2 RT-PCR was performed for "
    "this patient, although the result is not on file.",
    "confirm.binding": "Your e-CPS app will show the number {binding}: approve it.",
    "confirm.approve": "Confirm and get the code",
    "confirm.decline": "Do not give a code",
    "confirm.decline_prompt": "Reason for declining (required):",
    # previous codes for this patient
    "previous.with_code": "A code was already given to this patient on {issued_on} (ending in "
    "{last2}), {status}",
    "previous.without_code": "A code was already given to this patient on {issued_on}, {status}",
    "previous.request": "A code was already requested for this patient: {status}",
    "previous.expired": "expired",
    "previous.valid_until": "valid until {valid_until}",
    # consultation summary and patient record
    "summary.issued": "StopCovid declaration: code {code} given on {issued_at} ({decision}), "
    "valid until {valid_until}.",
    "summary.no_code": "StopCovid declaration ({decision}): {state}.",
    "notice.title": "StopCovid declaration: confirmation pending",
    "notice.lead": "{decision} of COVID-19: a StopCovid declaration code can be given to this "
    "patient once you confirm.",
    "notice.link": "Confirm (or decline) in the StopCovid console: {link}",
    "notice.login": "Log in with Pro Santé Connect (CPS card or e-CPS).",
    "note.title": "StopCovid declaration — declaration code given to the patient",
    "note.code": "Code: {code} (single use, valid until {valid_until})",
    "note.issued": "Given on: {issued_at}",
    "note.case": "Case type: {decision}",
    "note.reasons": "Reasons:",
    "note.patient_date": "Date to give in the app: {what}, {date}",
    "note.patient_date_unknown": "Date to give in the app: symptom onset date (without "
    "symptoms, the test date), not recorded",
    "note.confirmed_by": "Confirmed by: {practitioner}",
    "note.qr_attested": "Attestation: SI-DEP QR code unavailable or not working, and not used by "
    "anyone else.",
    "note.rtpcr_attested": "Attestation: positive SARS-CoV-2 RT-PCR performed (result not on "
    "file).",
    "note.replaces": "New code: the previous one was past its validity and the physician "
    "checked that the patient had not entered it.",
    "note.flag": "Warning: {flag}",
    "practitioner.unknown": "unidentified practitioner",
    # patient handout
    "handout.title": "Your StopCovid declaration code",
    "handout.validity": "valid until {valid_until}",
    "handout.hurry": "Enter it before then: after that time it no longer works.",
    "handout.step.open": "Open the StopCovid (TousAntiCovid) app on your phone.",
    "handout.step.declare": "Tap “Me déclarer” (declare yourself), then choose to enter a code.",
    "handout.step.code": "Enter the 6-character code: {code}.",
    "handout.step.date": "When the app asks for it, give the {what}: {date}.",
    "handout.step.date_unknown": "When the app asks for it, give the date your symptoms began "
    "(without symptoms, the date of your test).",
    "handout.date": "{what}: {date}",
    "handout.date_unknown": "the date your symptoms began (without symptoms, your test date)",
    "handout.single_use": "This code is personal and works only once: do not give it to anyone.",
    "handout.anonymity": "People you have been near will be warned without your identity being "
    "revealed to them.",
    "handout.practitioner": "Code given by {practitioner} on {issued_at}.",
    # messages the engine shows (see texts.Message)
    "message.issue_failed": "The StopCovid code service is unavailable: no code was obtained. "
    "Try again in a few minutes.",
    "message.write_back_pending": "The code was obtained but is not yet written to the patient "
    "record: retrying automatically.",
    "message.write_back_failed": "The code could not be written to the patient record: automatic "
    "retries have stopped, start the write again.",
    "message.token_denied": "The request was declined in the e-CPS app: no code was requested.",
    "message.token_timeout": "The request was not approved in the e-CPS app in time: no code was "
    "requested. Confirm again.",
    "message.profession_not_allowed": "Your profession ({profession}) cannot give StopCovid "
    "codes; allowed professions: {allowed}. No code was requested.",
    "message.token_unverified": "The Pro Santé Connect authentication handed over by your "
    "software could not be verified (unreadable token, not signed by Pro Santé Connect, issued "
    "to another software, or revoked): no code was requested. Log in again with your CPS card "
    "or e-CPS; if it happens again, tell your IT administrator.",
    "message.token_expired": "Your Pro Santé Connect authentication has expired: no code was "
    "requested. Log in again with your CPS card or e-CPS.",
    "message.token_other_practitioner": "The Pro Santé Connect authentication handed over "
    "belongs to another practitioner ({holder}) than the one who confirmed: no code was "
    "requested. Each practitioner confirms with their own CPS card or e-CPS.",
    "message.token_level": "The authentication level ({level}) is too low: no code was "
    "requested. Log in with your CPS card or the e-CPS app (level {required} at least).",
    "message.result_corrected": "The result {test} behind the code given on {issued_on} was "
    "corrected by the laboratory. Check the patient's situation; a code already used cannot be "
    "withdrawn.",
    "message.result_deleted": "The result {test} behind the code given on {issued_on} was "
    "deleted by the laboratory. Check the patient's situation; a code already used cannot be "
    "withdrawn.",
    "message.qr_attestation_missing": "For a confirmed case, the physician must attest that the "
    "SI-DEP QR code is unavailable or not working: no code without this attestation.",
    "message.rtpcr_attestation_missing": "No positive RT-PCR on file: the physician must attest "
    "that a positive SARS-CoV-2 RT-PCR was performed.",
    "message.code_still_valid": "A code given to this patient is still valid until "
    "{valid_until}: no new code, give that one again.",
    "message.code_validity_passed": "Validity passed on {valid_until}. If the patient already "
    "entered it in the app, do not give them another one.",
    "message.reissue_unused_attestation": "I confirm I checked with the patient that they did "
    "not enter this code in the TousAntiCovid app.",
    "message.reissue_unused_missing": "A new code is given only after checking with the patient "
    "that they did not enter the previous one: otherwise they would declare twice.",
    "message.reissue_not_latest": "This code was already replaced, or a newer request exists for "
    "this patient: no new code from this one.",
    "message.reissue_in_progress": "A code request is already under way for this patient: wait "
    "for its outcome.",
    "cli.no_pending": "No confirmation waiting.",
    "cli.attest_qr": "to attest: SI-DEP QR code unavailable (--attest-qr-unavailable)",
    "cli.attest_rtpcr": "to attest: positive RT-PCR performed (--attest-rtpcr-positive)",
    "cli.approve_wait": "Approve the request in your e-CPS app (verification code {binding}). "
    "Waiting…",
    "cli.code": "Code to give the patient: {code} (single use, valid until {valid_until}).",
    "cli.no_code": "No code: {status}.",
}
