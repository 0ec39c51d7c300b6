"""French and English texts: catalogs, dialog, summary, record note, handout, messages."""

from __future__ import annotations

import string
from datetime import UTC, date, datetime
from typing import Any

import pytest
from pydantic import SecretStr

from prostop_plugin.eligibility import evaluate
from prostop_plugin.models import (
    Coding,
    ConfirmationDecision,
    ConfirmationRequest,
    DiagnosisEvent,
    DiagnosisEvidence,
    EligibilityDecision,
    EventSource,
    ImagingFinding,
    IssuanceRecord,
    IssuanceState,
    LabResult,
    Locale,
    PatientRef,
    Practitioner,
    PreviousIssuance,
    SymptomEvidence,
)
from prostop_plugin.readers import read_json_events
from prostop_plugin.texts import CATALOGS, Message, get_texts, localized
from prostop_plugin.texts.formatting import format_date, format_datetime
from tests.paths import TESTS

AS_OF = date(2020, 11, 20)
ISSUED = datetime(2020, 11, 19, 13, 32, tzinfo=UTC)  # 14h32 in Paris
VALID_UNTIL = datetime(2020, 11, 19, 14, 32, tzinfo=UTC)  # 15h32 in Paris
DOCTOR = Practitioner(national_id="810009990001", family_name="BLANC", given_name="Hélène",
                      profession_code="10")
PATIENT = PatientRef(host_patient_id="DOS-9001", family_name="LEROY", given_name="Inès",
                     birth_date=date(1985, 3, 12))
QR_FR = ("Je certifie que le QR code SI-DEP du patient est indisponible ou ne fonctionne pas, "
         "et qu'il ne sera pas utilisé en parallèle par une autre personne.")


def positive_pcr() -> LabResult:
    return LabResult(test=Coding(code="94500-6", system="LN"),
                     value_coded=Coding(code="10828004", system="SCT"),
                     collected_at=datetime(2020, 11, 18, 9, 30),
                     observed_at=datetime(2020, 11, 19, 10, 5))


def decision_for(*evidence: Any) -> EligibilityDecision:
    return evaluate(list(evidence), as_of=AS_OF)


def make_record(decision: EligibilityDecision | None = None, **fields: Any) -> IssuanceRecord:
    decision = decision or decision_for(positive_pcr())
    event = DiagnosisEvent(
        source=EventSource(adapter="json", host="cabinet-test", message_id="EVT-1"),
        patient=PATIENT, practitioner=DOCTOR, evidence=[positive_pcr()],
    )
    values: dict[str, Any] = {
        "id": "iss-1", "episode": "ep-1", "state": IssuanceState.WRITTEN_BACK, "event": event,
        "decision": decision,
        "confirmation": ConfirmationDecision(approved=True, practitioner=DOCTOR,
                                             qr_unavailable_attested=True),
        "code": SecretStr("7H3K9Q"), "code_last2": "9Q", "issued_at": ISSUED,
        "valid_from": ISSUED, "valid_until": VALID_UNTIL,
    }
    values.update(fields)
    return IssuanceRecord(**values)


def make_request(decision: EligibilityDecision, **fields: Any) -> ConfirmationRequest:
    values: dict[str, Any] = {"issuance_id": "iss-1", "patient": PATIENT, "practitioner": DOCTOR,
                              "source": EventSource(adapter="json", host="cabinet-test",
                                                    message_id="EVT-1"),
                              "decision": decision, "binding_message": "42"}
    values.update(fields)
    return ConfirmationRequest(**values)


# -- catalogs ------------------------------------------------------------------------------------


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_both_locales_have_the_same_keys_and_placeholders() -> None:
    fr, en = CATALOGS["fr"], CATALOGS["en"]
    assert fr.keys() == en.keys()
    for key in fr:
        assert placeholders(fr[key]) == placeholders(en[key]), key


@pytest.mark.parametrize("locale", ["fr", "en"])
def test_no_mojibake_and_no_empty_text(locale: Locale) -> None:
    for key, text in CATALOGS[locale].items():
        assert text.strip(), key
        for bad in ("Ã", "Â", "\ufffd", "â€"):
            assert bad not in text, f"{key}: {text!r}"


def test_french_is_written_with_its_accents() -> None:
    french = " ".join(CATALOGS["fr"].values())
    for word in ("médecin", "Déclaration", " à ", "début", "symptômes", "éligible", "expiré",
                 "Réessayez", "déjà", "téléphone", "caractères"):
        assert word in french, word
    for unaccented in ("medecin", "Declaration", "debut des symptomes", " a 6 caracteres"):
        assert unaccented not in french, unaccented


def test_the_qr_attestation_says_exactly_what_the_doctrine_requires() -> None:
    assert CATALOGS["fr"]["confirm.qr_attestation"] == QR_FR
    english = CATALOGS["en"]["confirm.qr_attestation"]
    for fragment in ("SI-DEP QR code", "unavailable or not working", "not be used",
                     "anyone else"):
        assert fragment in english


@pytest.mark.parametrize("locale", ["fr", "en"])
def test_every_issuance_state_is_labelled(locale: Locale) -> None:
    texts = get_texts(locale)
    labels = [texts.state_label(state) for state in IssuanceState]
    assert all(labels) and len(set(labels)) == len(labels)


@pytest.mark.parametrize(("locale", "labels"), [
    ("fr", ("cas confirmé", "cas probable", "non éligible")),
    ("en", ("confirmed case", "probable case", "not eligible")),
])
def test_decision_labels(locale: Locale, labels: tuple[str, str, str]) -> None:
    texts = get_texts(locale)
    assert tuple(texts.decision_label(d) for d in ("confirmed", "probable", "not_eligible")) \
        == labels


def test_french_is_the_default_and_unknown_locales_fail() -> None:
    assert get_texts().locale == "fr"
    with pytest.raises(ValueError, match="unknown locale"):
        get_texts("de")


def test_eligibility_reasons_are_clean_in_both_languages() -> None:
    events = TESTS / "events"
    for path in events.glob("*.json"):
        if path.name == "expected.json":
            continue
        evidence = [e for event in read_json_events(path.read_bytes(), path.name)
                    for e in event.evidence]
        decision = evaluate(evidence, as_of=AS_OF)
        texts = [r.fr for r in decision.reasons] + [r.en for r in decision.reasons]
        texts += [u.summary.fr for u in decision.evidence] + [u.summary.en for u in
                                                              decision.evidence]
        for text in texts:
            assert "Ã" not in text and "\ufffd" not in text, text
        for reason in decision.reasons:  # no French typography left in English
            assert not any(m in reason.en for m in ("«", " :", " ;", " le ")), reason.en


# -- dates ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("moment", "fr", "en"), [
    (ISSUED, "19/11/2020 à 14h32", "19 Nov 2020 at 14:32"),
    (datetime(2020, 7, 1, 7, 5, tzinfo=UTC), "01/07/2020 à 9h05", "1 Jul 2020 at 09:05"),
    (datetime(2020, 11, 19, 23, 30, tzinfo=UTC), "20/11/2020 à 0h30", "20 Nov 2020 at 00:30"),
    (datetime(2020, 11, 19, 15, 32), "19/11/2020 à 15h32", "19 Nov 2020 at 15:32"),  # local
])
def test_dates_are_shown_in_french_time(moment: datetime, fr: str, en: str) -> None:
    assert format_datetime(moment, "fr") == fr
    assert format_datetime(moment, "en") == en


def test_plain_dates() -> None:
    assert format_date(date(2020, 11, 6), "fr") == "06/11/2020"
    assert format_date(date(2020, 11, 6), "en") == "6 Nov 2020"


# -- confirmation dialog -------------------------------------------------------------------------


def test_confirmation_for_a_confirmed_case_in_french() -> None:
    previous = [
        PreviousIssuance(issuance_id="iss-0", state=IssuanceState.EXPIRED, issued_at=ISSUED,
                         valid_until=VALID_UNTIL, code_last2="7K"),
        PreviousIssuance(issuance_id="iss-00", state=IssuanceState.DECLINED, issued_at=None,
                         valid_until=None, code_last2=None),
    ]
    text = get_texts("fr").confirmation(make_request(decision_for(positive_pcr()),
                                                     previous_issuances=previous))
    assert text.title.startswith("Déclaration StopCovid")
    assert text.lead.startswith("Cas confirmé de COVID-19 — LEROY Inès (12/03/1985)")
    assert text.decision == "cas confirmé"
    assert text.reasons[0] == ("Cas confirmé : RT-PCR SARS-CoV-2 positive (94500-6), prélevée "
                               "le 18/11/2020.")
    assert text.evidence == ["RT-PCR SARS-CoV-2 positive (94500-6), prélevée le 18/11/2020"]
    assert text.previous_codes == [
        "Un code a déjà été remis à ce patient le 19/11/2020 (se terminant par 7K), expiré",
        "Une demande de code a déjà été faite pour ce patient : non remis",
    ]
    assert text.patient_date == ("Date que l'application demandera au patient : date du test, "
                                 "le 18/11/2020.")
    assert text.qr_attestation == QR_FR
    assert text.rtpcr_attestation is None
    assert text.binding_message == "Votre application e-CPS affichera le nombre 42 : validez-le."
    assert (text.approve, text.decline) == ("Confirmer et obtenir le code",
                                            "Ne pas remettre de code")
    assert text.decline_reason_prompt == "Motif du refus (obligatoire) :"  # the engine requires one


def test_confirmation_in_english_with_rtpcr_attestation_and_a_valid_previous_code() -> None:
    decision = decision_for(DiagnosisEvidence(code=Coding(code="U07.1", system="I10")))
    previous = [PreviousIssuance(issuance_id="iss-0", state=IssuanceState.WRITTEN_BACK,
                                 issued_at=ISSUED, valid_until=VALID_UNTIL, code_last2="7K")]
    text = get_texts("en").confirmation(make_request(decision, previous_issuances=previous,
                                                     locale="en"))
    assert text.lead.startswith("COVID-19 confirmed case — LEROY Inès (12 Mar 1985)")
    assert text.rtpcr_attestation is not None and "positive SARS-CoV-2 RT-PCR" in \
        text.rtpcr_attestation
    assert text.qr_attestation is not None
    assert text.previous_codes == ["A code was already given to this patient on 19 Nov 2020 "
                                   "(ending in 7K), valid until 19 Nov 2020 at 15:32"]
    assert "symptom onset date" in text.patient_date  # unknown: to check with the patient
    assert text.binding_message == "Your e-CPS app will show the number 42: approve it."
    assert all(not any(c in line for c in "éà«") for line in text.reasons)


def test_confirmation_for_a_probable_case_has_no_qr_attestation() -> None:
    decision = decision_for(SymptomEvidence(onset_date=date(2020, 11, 16)),
                            ImagingFinding(suggestive_of_covid=True))
    text = get_texts("fr").confirmation(make_request(decision))
    assert text.decision == "cas probable" and text.qr_attestation is None
    assert text.patient_date.endswith("date de début des symptômes, le 16/11/2020.")


def test_confirmation_of_a_not_eligible_decision_says_so() -> None:
    decision = decision_for(DiagnosisEvidence(code=Coding(code="U07.2", system="I10")))
    text = get_texts("fr").confirmation(make_request(decision))
    assert "aucun code" in text.lead and text.qr_attestation is None


# -- summary line and record note ----------------------------------------------------------------


def test_summary_line() -> None:
    record = make_record()
    assert get_texts("fr").summary_line(record) == (
        "Déclaration StopCovid : code 7H3K9Q remis le 19/11/2020 à 14h32 (cas confirmé), "
        "valable jusqu'au 19/11/2020 à 15h32.")
    assert get_texts("en").summary_line(record) == (
        "StopCovid declaration: code 7H3K9Q given on 19 Nov 2020 at 14:32 (confirmed case), "
        "valid until 19 Nov 2020 at 15:32.")


def test_summary_line_without_a_code_gives_the_state() -> None:
    record = make_record(code=None, state=IssuanceState.ISSUE_FAILED)
    assert get_texts("fr").summary_line(record) == (
        "Déclaration StopCovid (cas confirmé) : échec de l'obtention du code.")


def test_record_note() -> None:
    flagged = make_record(
        confirmation=ConfirmationDecision(approved=True, practitioner=DOCTOR,
                                          qr_unavailable_attested=True,
                                          symptom_onset=date(2020, 11, 15)),
        flag=localized(Message.RESULT_CORRECTED, test="94500-6", issued_on=date(2020, 11, 19)),
        replaces="iss-0",
    )
    note = get_texts("fr").record_note(flagged).splitlines()
    assert note[0] == "Déclaration StopCovid — code de déclaration remis au patient"
    assert "Code : 7H3K9Q (usage unique, valable jusqu'au 19/11/2020 à 15h32)" in note
    assert "Remis le : 19/11/2020 à 14h32" in note
    assert "Type de cas : cas confirmé" in note
    assert ("- Cas confirmé : RT-PCR SARS-CoV-2 positive (94500-6), prélevée le 18/11/2020."
            in note)
    # the onset the physician gave in the dialog wins over the test date
    assert "Date à indiquer dans l'application : date de début des symptômes, le 15/11/2020" \
        in note
    assert "Confirmé par : Dr Hélène BLANC (médecin, RPPS 10009990001)" in note
    assert any(line.startswith("Attestation : QR code SI-DEP indisponible") for line in note)
    assert any(line.startswith("Attention : Le résultat 94500-6") for line in note)
    assert "Nouveau code : la validité du précédent était dépassée et le médecin a vérifié que " \
        "le patient ne l'avait pas saisi." in note


def test_record_note_in_english() -> None:
    note = get_texts("en").record_note(make_record())
    assert "Code: 7H3K9Q (single use, valid until 19 Nov 2020 at 15:32)" in note
    assert "Date to give in the app: test date, 18 Nov 2020" in note
    assert "Confirmed by: Dr Hélène BLANC (physician, RPPS 10009990001)" in note


# -- handout -------------------------------------------------------------------------------------


def test_handout_in_french() -> None:
    handout = get_texts("fr").handout(make_record())
    assert handout.title == "Votre code de déclaration StopCovid"
    assert (handout.code, handout.code_grouped) == ("7H3K9Q", "7H3 K9Q")
    assert handout.validity == "valable jusqu'au 19/11/2020 à 15h32"
    assert handout.numbered_steps == [
        "1. Ouvrez l'application StopCovid (TousAntiCovid) sur votre téléphone.",
        "2. Touchez « Me déclarer », puis choisissez de saisir un code.",
        "3. Saisissez le code à 6 caractères : 7H3K9Q.",
        "4. Quand l'application vous la demande, indiquez la date du test : 18/11/2020.",
    ]
    assert (handout.date_label, handout.date_value) == ("date du test", "18/11/2020")
    assert handout.date_line == "Date du test : 18/11/2020"
    assert "une seule fois" in handout.single_use and "personnel" in handout.single_use
    assert handout.practitioner == (
        "Code remis par Dr Hélène BLANC (médecin, RPPS 10009990001) le 19/11/2020 à 14h32.")


def test_handout_gives_the_symptom_onset_when_symptomatic() -> None:
    decision = decision_for(positive_pcr(), SymptomEvidence(onset_date=date(2020, 11, 15)))
    handout = get_texts("fr").handout(make_record(decision))
    assert handout.date_label == "date de début des symptômes"
    assert handout.steps[3].endswith("indiquez la date de début des symptômes : 15/11/2020.")


def test_handout_in_english_without_a_known_date() -> None:
    decision = decision_for(DiagnosisEvidence(code=Coding(code="U07.1", system="I10")))
    handout = get_texts("en").handout(make_record(decision))
    assert handout.validity == "valid until 19 Nov 2020 at 15:32"
    assert handout.date_value is None
    assert "the date your symptoms began" in handout.steps[3]
    assert handout.steps[2] == "Enter the 6-character code: 7H3K9Q."


def test_handout_needs_a_code() -> None:
    with pytest.raises(ValueError, match="no code"):
        get_texts("fr").handout(make_record(code=None, state=IssuanceState.ISSUE_FAILED))


# -- messages ------------------------------------------------------------------------------------

VALUES: dict[Message, dict[str, object]] = {
    Message.PROFESSION_NOT_ALLOWED: {"profession": "pharmacien", "allowed": "médecin, infirmier"},
    Message.RESULT_CORRECTED: {"test": "94500-6", "issued_on": date(2020, 11, 19)},
    Message.RESULT_DELETED: {"test": "94500-6", "issued_on": date(2020, 11, 19)},
    Message.CODE_STILL_VALID: {"valid_until": VALID_UNTIL},
    Message.TOKEN_OTHER_PRACTITIONER: {"holder": "810009876543"},
    Message.TOKEN_LEVEL: {"level": "eidas0", "required": "eidas1"},
    Message.CODE_VALIDITY_PASSED: {"valid_until": VALID_UNTIL},
}


@pytest.mark.parametrize("kind", list(Message))
def test_every_message_exists_in_both_languages(kind: Message) -> None:
    text = localized(kind, **VALUES.get(kind, {}))
    assert text.fr and text.en and text.fr != text.en
    assert "{" not in text.fr + text.en


def test_messages_fill_dates_for_the_locale() -> None:
    assert "le 19/11/2020" in get_texts("fr").error_text(
        Message.RESULT_DELETED, test="94500-6", issued_on=date(2020, 11, 19))
    assert "valid until 19 Nov 2020 at 15:32" in get_texts("en").error_text(
        Message.CODE_STILL_VALID, valid_until=VALID_UNTIL)


@pytest.mark.parametrize(("kind", "fragment"), [
    (Message.ISSUE_FAILED, "Réessayez dans quelques minutes"),
    (Message.WRITE_BACK_PENDING, "nouvel essai automatique"),
    (Message.TOKEN_DENIED, "refusée sur l'application e-CPS"),
    (Message.TOKEN_TIMEOUT, "à temps"),
    (Message.QR_ATTESTATION_MISSING, "le médecin doit attester"),
])
def test_message_wording(kind: Message, fragment: str) -> None:
    assert fragment in get_texts("fr").error_text(kind)


def test_a_missing_value_is_named() -> None:
    with pytest.raises(TypeError, match="allowed"):
        get_texts("fr").error_text(Message.PROFESSION_NOT_ALLOWED, profession="pharmacien")


def test_profession_labels() -> None:
    fr, en = get_texts("fr"), get_texts("en")
    assert (fr.profession_label("10"), fr.profession_label("60")) == ("médecin", "infirmier")
    assert en.profession_label("10") == "physician"
    assert fr.profession_label("99") == "code 99"


# -- what the physician reads is said once, in their words (issue 11) ---------------------------


def demo_chest_ct(**fields: Any) -> ImagingFinding:
    values: dict[str, Any] = {
        "exam": Coding(code="24627-2", system="LN", display="Scanner thoracique"),
        "finding": Coding(code="1217294009", system="SCT", display="opacités en verre dépoli"),
        "text": "Opacités en verre dépoli", "suggestive_of_covid": True,
        "observed_at": datetime(2020, 11, 18, 11, 0, tzinfo=UTC),
    }
    values.update(fields)
    return ImagingFinding(**values)


def probable_with(ct: ImagingFinding) -> EligibilityDecision:
    decision = decision_for(
        DiagnosisEvidence(code=Coding(code="U07.2", system="I10"), status="working"),
        SymptomEvidence(present=True, onset_date=date(2020, 11, 16)), ct)
    assert decision.decision == "probable"
    return decision


def test_a_chest_ct_is_named_once_without_codes_or_repetition() -> None:
    decision = probable_with(demo_chest_ct())
    (ct,) = [u.summary for u in decision.evidence if u.kind == "chest_ct"]
    assert ct.fr == ("scanner thoracique évocateur de COVID-19 (opacités en verre dépoli), "
                     "réalisé le 18/11/2020")
    assert ct.en == ("chest CT suggestive of COVID-19 (opacités en verre dépoli), performed on "
                     "18 Nov 2020")
    assert ct.fr in decision.reasons[0].fr
    different = probable_with(demo_chest_ct(text="Condensations bilatérales"))
    assert "(opacités en verre dépoli ; « Condensations bilatérales »)" in \
        different.reasons[0].fr
    attested = probable_with(ImagingFinding(suggestive_of_covid=True,
                                            observed_at=datetime(2020, 11, 18, 11, 0)))
    assert "scanner thoracique évocateur de COVID-19 (attesté par le médecin)" in \
        attested.reasons[0].fr
    assert "(attested by the physician)" in attested.reasons[0].en


def test_the_date_for_the_app_is_said_once_in_the_dialog_and_the_note() -> None:
    request = make_request(decision_for(positive_pcr()))
    for locale, said in (("fr", "Date à indiquer"), ("en", "Date to give")):
        text = get_texts(locale).confirmation(request)
        assert not any(said in reason for reason in text.reasons), text.reasons
        assert "18" in text.patient_date  # where the dialog gives it
        note = get_texts(locale).record_note(make_record())
        assert note.count(said) == 1, note
    unknown = decision_for(DiagnosisEvidence(code=Coding(code="U07.1", system="I10")))
    text = get_texts("fr").confirmation(make_request(unknown))
    assert not any("inconnue" in reason for reason in text.reasons), text.reasons
    assert "à préciser avec lui" in text.patient_date


def test_a_declined_request_reads_not_given_with_the_physicians_reason() -> None:
    declined = make_record(
        state=IssuanceState.DECLINED, code=None, code_last2=None, issued_at=None,
        valid_from=None, valid_until=None,
        confirmation=ConfirmationDecision(approved=False, practitioner=DOCTOR,
                                          decline_reason="La patiente a son QR code."))
    assert get_texts("fr").state_label(IssuanceState.DECLINED) == "non remis"
    assert get_texts("fr").status(declined) == "non remis — motif : La patiente a son QR code"
    assert get_texts("en").status(declined) == "not given — reason: La patiente a son QR code"
    assert get_texts("fr").summary_line(declined) == (
        "Déclaration StopCovid (cas confirmé) : non remis — motif : La patiente a son QR code.")
    assert get_texts("fr").status(make_record()) == "code remis et enregistré au dossier"


@pytest.mark.parametrize(("practitioner", "label"), [
    (Practitioner(national_id="810003456789"), "RPPS 10003456789"),
    (Practitioner(national_id="810003456789", profession_code="10"), "médecin, RPPS 10003456789"),
    (Practitioner(national_id="810003456789", profession_code="10", family_name="BLANC",
                  given_name="Hélène"), "Dr Hélène BLANC (médecin, RPPS 10003456789)"),
])
def test_a_practitioner_is_named_with_what_is_known_only(
    practitioner: Practitioner, label: str
) -> None:
    assert get_texts("fr").practitioner_label(practitioner) == label
