"""Eligibility doctrine: the JSON event corpus, table-driven unit tests, properties."""

from __future__ import annotations

import json
import tomllib
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prostop_plugin.eligibility import (
    RULES,
    EligibilityPolicy,
    Interpretation,
    LabCategory,
    classify_lab_result,
    evaluate,
    interpret_lab_result,
    interpret_text,
    is_covid_relevant,
    parse_onset_date,
)
from prostop_plugin.models import (
    Coding,
    DiagnosisEvidence,
    EligibilityDecision,
    Evidence,
    ImagingFinding,
    LabResult,
    SymptomEvidence,
)
from prostop_plugin.readers import read_json_events
from tests.paths import TESTS

EVENTS = TESTS / "events"
EXPECTED = json.loads((EVENTS / "expected.json").read_text(encoding="utf-8"))
AS_OF = date.fromisoformat(EXPECTED["as_of"])
PARIS = ZoneInfo("Europe/Paris")
POSITIVE, NEGATIVE, INDETERMINATE = "10828004", "260385009", "373068000"


def evidence_of(*files: str) -> list[Evidence]:
    items: list[Evidence] = []
    for name in files:
        for event in read_json_events((EVENTS / name).read_bytes(), name):
            items.extend(event.evidence)
    return items


# -- the JSON event corpus -----------------------------------------------------------------------


@pytest.mark.parametrize("key", sorted(EXPECTED["single_files"]))
def test_single_file(key: str) -> None:
    expected = EXPECTED["single_files"][key]
    name = key.partition("@")[0]
    policy = EligibilityPolicy(**expected.get("policy", {}))
    decision = evaluate(evidence_of(name), policy, AS_OF)
    assert (decision.decision, decision.rule) == (expected["decision"], expected["rule"]), \
        expected["note"]


@pytest.mark.parametrize("bundle", EXPECTED["bundles"], ids=lambda b: "+".join(b["files"]))
def test_bundle(bundle: dict[str, Any]) -> None:
    patients = {
        event.patient.host_patient_id
        for name in bundle["files"]
        for event in read_json_events((EVENTS / name).read_bytes(), name)
    }
    assert len(patients) == 1, "a bundle is one patient's evidence"
    decision = evaluate(evidence_of(*bundle["files"]), as_of=AS_OF)
    assert (decision.decision, decision.rule) == (bundle["decision"], bundle["rule"]), \
        bundle["note"]


def test_every_event_file_is_expected_and_exists() -> None:
    listed = {key.partition("@")[0] for key in EXPECTED["single_files"]}
    listed |= {name for bundle in EXPECTED["bundles"] for name in bundle["files"]}
    on_disk = {p.name for p in EVENTS.glob("*.json")} - {"expected.json"}
    assert listed == on_disk
    assert len(on_disk) >= 20


def test_every_rule_is_exercised() -> None:
    seen = {e["rule"] for e in EXPECTED["single_files"].values()}
    seen |= {b["rule"] for b in EXPECTED["bundles"]}
    # insufficient_evidence is reached by the unit tests below
    assert {r.id for r in RULES} - seen == {"insufficient_evidence"}


def test_rules_are_unique_and_ordered_by_precedence() -> None:
    ids = [r.id for r in RULES]
    assert len(ids) == len(set(ids))
    order = {"confirmed": 0, "probable": 1, "not_eligible": 2}
    ranks = [order[r.decision] for r in RULES]
    assert ranks == sorted(ranks), "confirmed beats probable beats not eligible"


# -- building evidence in tests ------------------------------------------------------------------


def at(day: int, hour: int = 9, month: int = 11) -> datetime:
    return datetime(2020, month, day, hour, 0)


def lab(
    code: str = "94500-6", value: str | None = POSITIVE, *, text: str | None = None,
    status: str = "F", collected: datetime | None = None, observed: datetime | None = None,
    system: str = "LN", alternate: str | None = None, flag: str | None = None,
    numeric: float | None = None, value_system: str = "SCT", display: str | None = None,
) -> LabResult:
    return LabResult(
        test=Coding(code=code, system=system),
        test_alternate=Coding(code=alternate, system="LN") if alternate else None,
        value_coded=Coding(code=value, system=value_system, display=display) if value else None,
        value_text=text, value_numeric=numeric, abnormal_flag=flag, status=status,
        collected_at=collected if collected is not None else at(18),
        observed_at=observed if observed is not None else at(19, 10),
    )


def diagnosis(code: str, status: str = "final", system: str = "I10",
              recorded: datetime | None = None) -> DiagnosisEvidence:
    return DiagnosisEvidence(code=Coding(code=code, system=system), status=status,
                             recorded_at=recorded or at(19, 14))


def symptoms(onset: date | None = date(2020, 11, 16), present: bool = True) -> SymptomEvidence:
    return SymptomEvidence(present=present, onset_date=onset)


def ct_scan(**fields: Any) -> ImagingFinding:
    fields.setdefault("exam", Coding(code="24627-2", system="LN"))
    fields.setdefault("finding", Coding(code="1217294009", system="SCT"))
    fields.setdefault("observed_at", at(19, 8))
    return ImagingFinding(**fields)


def decide(*items: Evidence, **policy: Any) -> EligibilityDecision:
    return evaluate(list(items), EligibilityPolicy(**policy), AS_OF)


# -- reading words and codes ---------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("POSITIF", "positive"),
    ("Positif faible", "positive"),
    ("DETECTE", "positive"),
    ("ARN SARS-CoV-2 détecté", "positive"),
    ("Détectée", "positive"),
    ("Positive", "positive"),
    ("NEGATIF", "negative"),
    ("Négatif", "negative"),
    ("non détecté", "negative"),
    ("NON DETECTE", "negative"),
    ("Non-détecté", "negative"),
    ("not detected", "negative"),
    ("Absence d'ARN viral", "negative"),
    ("indétectable", "negative"),
    ("ININTERPRETABLE", "indeterminate"),
    ("Non interprétable", "indeterminate"),
    ("Indéterminé", "indeterminate"),
    ("douteux", "indeterminate"),
    # a positive word under a negation the lists do not know is never positive
    ("pas positif", "unknown"),
    ("aucun ARN détecté", "unknown"),
    ("sans détection", "unknown"),
    ("voir compte rendu", "unknown"),
    ("", "unknown"),
    ("   ", "unknown"),
    ("POSITIVITE", "unknown"),
])
def test_interpret_text(text: str, expected: str) -> None:
    assert interpret_text(text) is Interpretation(expected)


@pytest.mark.parametrize(("result", "category"), [
    (lab("94500-6"), LabCategory.NAAT),
    (lab("94309-2"), LabCategory.NAAT),
    (lab("94531-1"), LabCategory.NAAT),  # panel
    (lab("94558-4"), LabCategory.ANTIGEN),
    (lab("95209-3"), LabCategory.ANTIGEN),
    (lab("94563-4"), LabCategory.SEROLOGY),
    (lab("94745-7", None, numeric=24.0), LabCategory.CT_VALUE),
    (lab("24627-2"), LabCategory.CHEST_CT),
    (lab("95419-8", "Y", value_system="HL70136"), LabCategory.SYMPTOMS_QUESTION),
    (lab("65222-2", None, text="20201116"), LabCategory.SYMPTOM_ONSET),
    (lab("2345-7", None, numeric=5.0), LabCategory.OTHER),
    (lab("COVPCR", system="L", alternate="94309-2"), LabCategory.NAAT),  # LOINC in OBX-3.4
    (lab("COVPCR", system="L"), LabCategory.OTHER),  # local code, no mapping
    (lab("94500-6", system="L"), LabCategory.OTHER),  # a LOINC-looking local code is local
])
def test_classify_lab_result(result: LabResult, category: LabCategory) -> None:
    assert classify_lab_result(result) is category


@pytest.mark.parametrize("key", ["COVPCR", "L:COVPCR", "99L:COVPCR", "covpcr"])
def test_local_codes_map_to_loinc(key: str) -> None:
    policy = EligibilityPolicy(local_codes={key: "94309-2"})
    assert classify_lab_result(lab("COVPCR", system="L"), policy) is LabCategory.NAAT


def test_local_code_mapping_is_per_system() -> None:
    policy = EligibilityPolicy(local_codes={"KALISIL:COVPCR": "94309-2"})
    assert classify_lab_result(lab("COVPCR", system="KALISIL"), policy) is LabCategory.NAAT
    assert classify_lab_result(lab("COVPCR", system="OTHERLAB"), policy) is LabCategory.OTHER


@pytest.mark.parametrize(("result", "expected"), [
    (lab(value=POSITIVE), "positive"),
    (lab(value="260373001"), "positive"),
    (lab(value=NEGATIVE), "negative"),
    (lab(value="260415000"), "negative"),
    (lab(value=INDETERMINATE), "indeterminate"),
    (lab(value="POS", value_system="L", display="Positif"), "positive"),  # local code, its display
    (lab(value=POSITIVE, text="négatif"), "unknown"),  # code and words disagree
    (lab(value=None, text="POSITIF"), "positive"),
    (lab(value=None, numeric=1.0), "unknown"),  # a number is not a result
    (lab("94745-7", None, numeric=24.0), "unknown"),
    (lab("24627-2", "1217294009"), "positive"),
    (lab("24627-2", "1217294009", flag="N"), "unknown"),  # contradicts itself
    (lab("24627-2", "1217294009", value_system="L"), "unknown"),  # local finding code
    (lab("24627-2", None, flag="A"), "positive"),
    (lab("24627-2", None, flag="N"), "negative"),
    (lab("24627-2", None), "unknown"),
    (lab("24627-2", "126713003", flag="A"), "unknown"),  # a coded non-COVID finding (lung mass)
    (lab("95419-8", "Y", value_system="HL70136"), "positive"),
    (lab("95419-8", "N", value_system="HL70136"), "negative"),
    (lab("95419-8", None, text="Oui"), "positive"),
    (lab("95419-8", None, text="NON"), "negative"),
    (lab("95419-8", None, text="peut-être"), "unknown"),
])
def test_interpret_lab_result(result: LabResult, expected: str) -> None:
    assert interpret_lab_result(result) is Interpretation(expected)


def test_abnormal_flag_on_chest_ct_is_configurable() -> None:
    policy = EligibilityPolicy(chest_ct_abnormal_flags=[])
    assert interpret_lab_result(lab("24627-2", None, flag="A"), policy) is Interpretation.UNKNOWN


@pytest.mark.parametrize(("text", "expected"), [
    ("20201116", date(2020, 11, 16)),
    ("202011160830", date(2020, 11, 16)),
    ("2020-11-16", date(2020, 11, 16)),
    ("2020-11-16T08:30:00+01:00", date(2020, 11, 16)),
    ("16/11/2020", date(2020, 11, 16)),
    ("6/1/2021", date(2021, 1, 6)),
    ("20201332", None),
    ("hier", None),
    ("", None),
    (None, None),
])
def test_parse_onset_date(text: str | None, expected: date | None) -> None:
    assert parse_onset_date(text) == expected


# -- doctrine rows -------------------------------------------------------------------------------

CASES: list[tuple[str, list[Evidence], dict[str, Any], str, str]] = [
    # id, evidence, policy overrides, decision, rule
    ("naat final", [lab()], {}, "confirmed", "naat_positive"),
    ("naat corrected to positive", [lab(value=NEGATIVE), lab(status="C", observed=at(19, 16))],
     {}, "confirmed", "naat_positive"),
    ("naat corrected to negative", [lab(), lab(value=NEGATIVE, status="C", observed=at(19, 16))],
     {}, "not_eligible", "result_withdrawn"),
    ("deleted", [lab(), lab(status="D", observed=at(19, 17))], {}, "not_eligible",
     "result_withdrawn"),
    ("deleted alone", [lab(status="D")], {}, "not_eligible", "result_deleted"),
    ("deleted then entered again", [lab(status="D", observed=at(19, 12)),
                                    lab(status="C", observed=at(19, 13))],
     {}, "confirmed", "naat_positive"),
    ("preliminary", [lab(status="P")], {}, "not_eligible", "result_preliminary"),
    ("preliminary then final", [lab(status="P", observed=at(19, 8)), lab()], {}, "confirmed",
     "naat_positive"),
    ("a late preliminary does not undo a final", [lab(), lab(value=None, status="P",
                                                             observed=at(19, 20))],
     {}, "confirmed", "naat_positive"),
    ("cannot be obtained", [lab(value=None, status="X")], {}, "not_eligible",
     "insufficient_evidence"),
    ("correction of another sample does not supersede",
     [lab(), lab(value=NEGATIVE, status="C", collected=at(10), observed=at(19, 16))],
     {}, "confirmed", "naat_positive"),
    ("correction without collection time supersedes",
     [lab(), LabResult(test=Coding(code="94500-6", system="LN"), status="C",
                       value_coded=Coding(code=NEGATIVE, system="SCT"), observed_at=at(19, 16))],
     {}, "not_eligible", "result_withdrawn"),
    ("naive and aware times compare", [
        lab(observed=datetime(2020, 11, 19, 10, 0)),
        lab(value=NEGATIVE, status="C", observed=datetime(2020, 11, 19, 10, 0, tzinfo=UTC))],
     {}, "not_eligible", "result_withdrawn"),  # 10:00 UTC is 11:00 in Paris: later
    ("negative", [lab(value=NEGATIVE)], {}, "not_eligible", "naat_negative"),
    ("non détecté", [lab(value=None, text="non détecté")], {}, "not_eligible", "naat_negative"),
    ("indeterminate", [lab(value=INDETERMINATE)], {}, "not_eligible", "naat_indeterminate"),
    ("antigen only", [lab("94558-4")], {}, "not_eligible", "antigen_only"),
    ("antigen accepted", [lab("94558-4")], {"accept_antigen": True}, "confirmed",
     "antigen_positive"),
    ("serology only", [lab("94563-4")], {}, "not_eligible", "serology_only"),
    ("ct value only", [lab("94745-7", None, numeric=22.0)], {}, "not_eligible", "ct_value_only"),
    ("U07.1 final", [diagnosis("U07.1")], {}, "confirmed", "diagnosis_confirmed"),
    ("U07.10 final", [diagnosis("U07.10")], {}, "confirmed", "diagnosis_confirmed"),
    ("U07.12 final", [diagnosis("U07.12")], {}, "confirmed", "diagnosis_confirmed"),
    ("U071 without dot", [diagnosis("U071", system="L")], {}, "confirmed", "diagnosis_confirmed"),
    ("840539006 final", [diagnosis("840539006", system="SCT")], {}, "confirmed",
     "diagnosis_confirmed"),
    ("U07.1 working", [diagnosis("U07.1", "working")], {}, "not_eligible", "diagnosis_not_final"),
    ("U07.1 admitting", [diagnosis("U07.1", "admitting")], {}, "not_eligible",
     "diagnosis_not_final"),
    ("U07.1 ruled out", [diagnosis("U07.1", "ruled_out")], {}, "not_eligible", "ruled_out"),
    ("U07.1 + negative PCR", [diagnosis("U07.1"), lab(value=NEGATIVE)], {}, "not_eligible",
     "diagnosis_contradicted"),
    ("U07.1 + negative PCR, policy allows", [diagnosis("U07.1"), lab(value=NEGATIVE)],
     {"negative_naat_blocks_diagnosis": False}, "confirmed", "diagnosis_confirmed"),
    ("U07.1 + old negative PCR", [diagnosis("U07.1"), lab(value=NEGATIVE, collected=at(1))],
     {}, "confirmed", "diagnosis_confirmed"),
    ("U07.1 + too old positive PCR", [diagnosis("U07.1"), lab(collected=at(1), observed=at(2))],
     {}, "not_eligible", "too_old"),
    ("U07.1 old diagnosis", [diagnosis("U07.1", recorded=at(1))], {}, "not_eligible", "too_old"),
    ("U07.2 alone", [diagnosis("U07.2")], {}, "not_eligible", "suspected"),
    ("U07.11 + symptoms", [diagnosis("U07.11"), symptoms()], {}, "not_eligible", "suspected"),
    ("840544004", [diagnosis("840544004", system="SCT")], {}, "not_eligible", "suspected"),
    ("U07.13", [diagnosis("U07.13")], {}, "not_eligible", "ruled_out"),
    ("symptoms + CT", [symptoms(), ct_scan()], {}, "probable", "probable_clinical_ct"),
    ("U07.2 + symptoms + CT", [diagnosis("U07.2", "working"), symptoms(), ct_scan()], {},
     "probable", "probable_clinical_ct"),
    ("symptoms + attested CT", [symptoms(), ImagingFinding(suggestive_of_covid=True)], {},
     "probable", "probable_clinical_ct"),
    ("symptoms + CT said not suggestive", [symptoms(), ct_scan(suggestive_of_covid=False)], {},
     "not_eligible", "clinical_signs_only"),
    ("symptoms + chest X-ray", [symptoms(), ct_scan(exam=Coding(code="36643-5", system="LN"))],
     {}, "not_eligible", "clinical_signs_only"),
    ("symptoms + preliminary CT", [symptoms(), ct_scan(status="P")], {}, "not_eligible",
     "clinical_signs_only"),
    ("no symptoms + CT", [symptoms(present=False), ct_scan()], {}, "not_eligible",
     "chest_ct_without_signs"),
    ("HL7 symptoms + CT", [lab("95419-8", "Y", value_system="HL70136"), lab("24627-2", None,
                                                                           flag="A")],
     {}, "probable", "probable_clinical_ct"),
    ("CT too old", [symptoms(None), ct_scan(observed_at=at(1))], {}, "not_eligible", "too_old"),
    ("onset too old for probable", [symptoms(date(2020, 11, 2)), ct_scan()], {}, "not_eligible",
     "too_old"),
    ("old suspicion is still a suspicion", [diagnosis("U07.2", recorded=at(1))], {},
     "not_eligible", "suspected"),
    ("old negative is still negative", [lab(value=NEGATIVE, collected=at(1), observed=at(2))],
     {}, "not_eligible", "naat_negative"),
    ("old provisional U07.1", [diagnosis("U07.1", "working", recorded=at(1))], {},
     "not_eligible", "diagnosis_not_final"),
    ("unreadable onset only", [lab("65222-2", None, text="la semaine dernière")], {},
     "not_eligible", "insufficient_evidence"),
    ("nothing about covid", [lab("2345-7", None, numeric=5.0)], {}, "not_eligible",
     "no_covid_evidence"),
    ("future-dated positive", [lab(collected=at(23), observed=at(24))], {}, "not_eligible",
     "dated_later"),
    ("future correction is not known yet", [lab(), lab(value=NEGATIVE, status="C",
                                                       observed=at(22))],
     {}, "confirmed", "naat_positive"),
    ("contested", [lab(), lab(value=NEGATIVE)], {}, "not_eligible", "result_contested"),
    ("positive beats later negative of another sample", [lab(), lab(value=NEGATIVE,
                                                                    collected=at(19))],
     {}, "confirmed", "naat_positive"),
    ("confirmed beats probable", [lab(), symptoms(), ct_scan()], {}, "confirmed",
     "naat_positive"),
]


@pytest.mark.parametrize(("evidence", "policy", "decision", "rule"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_doctrine(evidence: list[Evidence], policy: dict[str, Any], decision: str,
                  rule: str) -> None:
    result = evaluate(evidence, EligibilityPolicy(**policy), AS_OF)
    assert (result.decision, result.rule) == (decision, rule)
    assert result.requires_qr_attestation is (decision == "confirmed")


def test_window_boundary_is_inclusive_and_configurable() -> None:
    assert decide(lab(collected=at(6), observed=at(6, 18))).decision == "confirmed"  # 14 days
    assert decide(lab(collected=at(5), observed=at(6, 18))).rule == "too_old"  # 15 days
    assert decide(lab(collected=at(12)), contact_window_days=7).rule == "too_old"
    assert decide(lab(collected=at(13)), contact_window_days=7).decision == "confirmed"


def test_day_is_the_french_calendar_day() -> None:
    # 23:30 UTC on 5 Nov is 00:30 on 6 Nov in Paris: exactly 14 days before as_of
    late = datetime(2020, 11, 5, 23, 30, tzinfo=UTC)
    decision = decide(lab(collected=late, observed=late + timedelta(days=1)))
    assert decision.decision == "confirmed"
    assert decision.reference_date == date(2020, 11, 6)


# -- what a decision carries ---------------------------------------------------------------------


def test_confirmed_naat_names_evidence_and_dates() -> None:
    result = lab(collected=datetime(2020, 11, 18, 9, 30))
    result.source_ref = "OBX[1]"
    decision = decide(result)
    assert decision.reasons[0].fr == (
        "Cas confirmé : RT-PCR SARS-CoV-2 positive (94500-6), prélevée le 18/11/2020.")
    assert decision.reasons[0].en == (
        "Confirmed case: SARS-CoV-2 RT-PCR positive (94500-6), sampled on 18 Nov 2020.")
    assert (decision.reference_date, decision.reference_date_kind) == (date(2020, 11, 18),
                                                                       "test_date")
    assert decision.requires_qr_attestation and not decision.requires_rtpcr_attestation
    assert decision.as_of == AS_OF
    used = decision.evidence[0]
    assert (used.kind, used.source_ref, used.observed_on) == ("naat", "OBX[1]", date(2020, 11, 18))
    assert any("date du test, le 18/11/2020" in r.fr for r in decision.reasons)


def test_reference_date_is_onset_when_symptomatic() -> None:
    decision = decide(lab(), symptoms(date(2020, 11, 15)))
    assert (decision.reference_date, decision.reference_date_kind) == (date(2020, 11, 15),
                                                                       "symptom_onset")
    assert any("date de début des symptômes, le 15/11/2020" in r.fr for r in decision.reasons)


def test_reference_date_falls_back_to_observation_date() -> None:
    result = LabResult(test=Coding(code="94500-6", system="LN"),
                       value_coded=Coding(code=POSITIVE, system="SCT"), observed_at=at(19, 10))
    decision = decide(result)
    assert (decision.reference_date, decision.reference_date_kind) == (date(2020, 11, 19),
                                                                       "test_date")
    assert "rendue le 19/11/2020" in decision.reasons[0].fr


def test_earliest_onset_and_earliest_positive_are_used() -> None:
    decision = decide(lab(collected=at(17)), lab(collected=at(12)),
                      lab("65222-2", None, text="20201114"), symptoms(date(2020, 11, 15)))
    assert decision.reference_date == date(2020, 11, 14)
    assert "prélevée le 12/11/2020" in decision.reasons[0].fr


def test_diagnosis_confirmed_asks_for_rtpcr_attestation() -> None:
    decision = decide(diagnosis("U07.1"))
    assert decision.requires_rtpcr_attestation and decision.requires_qr_attestation
    assert decision.reference_date is None
    assert any("attester" in r.fr and "attest" in r.en for r in decision.reasons)


def test_probable_has_no_qr_attestation_and_uses_onset() -> None:
    decision = decide(symptoms(date(2020, 11, 16)), ct_scan())
    assert not decision.requires_qr_attestation and not decision.requires_rtpcr_attestation
    assert decision.reference_date == date(2020, 11, 16)
    assert {u.kind for u in decision.evidence} == {"symptoms", "chest_ct"}


@pytest.mark.parametrize(("evidence", "fragments_fr", "fragments_en"), [
    ([lab(status="P")], ["attendre le résultat définitif"], ["wait for the laboratory's final"]),
    ([lab(collected=at(1), observed=at(2))], ["Trop ancien", "plus de 14 jours avant le 20/11"],
     ["Too old", "more than 14 days before 20 Nov 2020"]),
    ([lab(), lab(value=NEGATIVE, status="C", observed=at(19, 16))],
     ["corrigé par le laboratoire", "remplacée par", "négative, corrigée"],
     ["corrected by the laboratory", "negative, corrected"]),
    ([lab(), lab(status="D", observed=at(19, 16))], ["supprimé par le laboratoire"],
     ["deleted by the laboratory"]),
    ([lab("94558-4")], ["exige une RT-PCR positive"], ["requires a positive RT-PCR"]),
    ([diagnosis("U07.2")], ["Cas suspect", "scanographiques"], ["Suspected case", "chest-CT"]),
    ([diagnosis("U07.1"), lab(value=NEGATIVE)], ["ajoutez ce résultat au dossier"],
     ["add that result to the record"]),
    ([lab(value=None, text="voir commentaire")], ["« voir commentaire » non reconnu"],
     ["“voir commentaire”"]),
    ([lab(collected=at(25), observed=at(25))], ["Daté après le 20/11/2020"],
     ["Dated after 20 Nov 2020"]),
])
def test_not_eligible_says_why_and_what_would_help(
    evidence: list[Evidence], fragments_fr: list[str], fragments_en: list[str]
) -> None:
    decision = decide(*evidence)
    assert decision.decision == "not_eligible"
    assert decision.reference_date is None and not decision.requires_qr_attestation
    text_fr = " ".join(r.fr for r in decision.reasons)
    text_en = " ".join(r.en for r in decision.reasons)
    for fragment in fragments_fr:
        assert fragment in text_fr
    for fragment in fragments_en:
        assert fragment in text_en


def test_not_eligible_lists_what_later_rules_found() -> None:
    decision = decide(diagnosis("U07.2", "working"), symptoms(), lab("94563-4"))
    assert decision.rule == "suspected"
    joined = " ".join(r.fr for r in decision.reasons)
    assert "Signes cliniques sans signes scanographiques" in joined
    assert "Sérologie" in joined
    assert len(decision.evidence) == 3


def test_eligible_decision_mentions_other_results_on_file() -> None:
    decision = decide(lab(), lab(value=NEGATIVE, collected=at(10)),
                      lab(value=NEGATIVE, collected=at(25), observed=at(25)))
    joined = " ".join(r.fr for r in decision.reasons)
    assert "Également au dossier : RT-PCR SARS-CoV-2 négative" in joined
    assert "Daté après le 20/11/2020" in joined


def test_as_of_defaults_to_today_in_france() -> None:
    decision = evaluate([lab()])
    assert decision.as_of == datetime.now(PARIS).date()


def test_policy_defaults_match_the_doctrine() -> None:
    policy = EligibilityPolicy()
    assert not policy.accept_antigen
    assert (policy.contact_window_days, policy.episode_window_days) == (14, 14)
    assert policy.allowed_professions == ["10", "60"]
    assert "94500-6" in policy.naat_loinc and "24627-2" in policy.chest_ct_loinc
    assert set(policy.confirmed_cim10) == {"U07.1", "U07.10", "U07.12", "U07.14"}
    assert set(policy.suspected_cim10) == {"U07.2", "U07.11", "U07.15"}
    assert policy.ruled_out_cim10 == ["U07.13"]


def test_policy_loads_from_toml_and_documents_every_key() -> None:
    section = tomllib.loads("""
        [eligibility]
        accept_antigen = true
        contact_window_days = 10
        local_codes = { "KALISIL:COVPCR" = "94309-2" }
    """)["eligibility"]
    policy = EligibilityPolicy.model_validate(section)
    assert policy.accept_antigen and policy.contact_window_days == 10
    with pytest.raises(ValueError, match="extra"):
        EligibilityPolicy.model_validate({"acept_antigen": True})
    for name, info in EligibilityPolicy.model_fields.items():
        assert info.description, f"{name} is undocumented"


def test_policy_mutable_defaults_are_not_shared() -> None:
    first = EligibilityPolicy()
    first.naat_loinc.append("X")
    assert "X" not in EligibilityPolicy().naat_loinc


@pytest.mark.parametrize(("evidence", "relevant"), [
    ([lab()], True),
    ([lab("94563-4")], True),
    ([lab("94745-7", None, numeric=30.0)], True),
    ([lab("COVPCR", system="L", alternate="94309-2")], True),
    ([diagnosis("U07.13")], True),
    ([diagnosis("840544004", system="SCT")], True),
    ([symptoms()], True),
    ([lab("65222-2", None, text="20201116")], True),
    ([ct_scan()], True),
    ([lab("2345-7", None, numeric=5.0)], False),
    ([diagnosis("J11.1")], False),
    ([symptoms(present=False)], False),
    ([lab("24627-2", None, flag="N")], False),
    ([lab("24627-2", "126713003", flag="A")], False),
    ([lab("COVPCR", system="L")], False),
])
def test_is_covid_relevant(evidence: list[Evidence], relevant: bool) -> None:
    assert is_covid_relevant(evidence) is relevant


# -- properties ----------------------------------------------------------------------------------

LOINCS = ["94500-6", "94309-2", "94531-1", "94558-4", "94563-4", "94745-7", "24627-2",
          "95419-8", "65222-2", "2345-7", "COVPCR"]
RESULT_CODES = [POSITIVE, "260373001", NEGATIVE, "260415000", INDETERMINATE, "1217294009",
                "Y", "N", "126713003"]
TEXTS = ["POSITIF", "Négatif", "non détecté", "DÉTECTÉ", "ININTERPRETABLE", "Oui", "20201116",
         "2020-11-16", "16/11/2020"]
DIAGNOSES = ["U07.1", "U07.10", "U07.11", "U07.12", "U07.13", "U07.14", "U07.15", "U07.2",
             "840539006", "840544004", "J11.1"]

# extreme offsets reach the ends of the calendar when converted to French time
ZONES: list[tzinfo | None] = [None, UTC, PARIS, timezone(timedelta(hours=-23)),
                              timezone(timedelta(hours=23))]
near = st.datetimes(min_value=datetime(2020, 10, 20), max_value=datetime(2020, 11, 30),
                    timezones=st.sampled_from(ZONES[:3]))
anytime = st.datetimes(timezones=st.sampled_from(ZONES))
anyday = st.dates()


def codings(codes: list[str], systems: list[str]) -> st.SearchStrategy[Coding]:
    return st.builds(Coding, code=st.sampled_from(codes) | st.text(min_size=1, max_size=8)
                     .filter(str.strip), system=st.sampled_from(systems),
                     display=st.none() | st.sampled_from(TEXTS) | st.text(max_size=12))


def evidence_items(times: st.SearchStrategy[datetime], days: st.SearchStrategy[date],
                   ) -> st.SearchStrategy[Evidence]:
    labs = st.builds(
        LabResult,
        test=codings(LOINCS, ["LN", "L"]),
        test_alternate=st.none() | codings(LOINCS, ["LN"]),
        value_coded=st.none() | codings(RESULT_CODES, ["SCT", "HL70136", "L"]),
        value_text=st.none() | st.sampled_from(TEXTS) | st.text(max_size=20),
        value_numeric=st.none() | st.floats(allow_nan=True),
        abnormal_flag=st.none() | st.sampled_from(["A", "N", "AA", "H"]),
        status=st.sampled_from(["F", "C", "P", "D", "X"]),
        observed_at=st.none() | times, collected_at=st.none() | times,
        source_ref=st.none() | st.sampled_from(["OBX[1]", "OBX[2]"]),
    )
    diagnoses = st.builds(
        DiagnosisEvidence, code=codings(DIAGNOSES, ["I10", "SCT", "L"]),
        status=st.sampled_from(["admitting", "working", "final", "ruled_out"]),
        recorded_at=st.none() | times)
    signs = st.builds(SymptomEvidence, present=st.booleans(), onset_date=st.none() | days,
                      description=st.none() | st.text(max_size=15))
    scans = st.builds(
        ImagingFinding, exam=st.none() | codings(["24627-2", "36643-5"], ["LN"]),
        finding=st.none() | codings(["1217294009", "126713003"], ["SCT"]),
        suggestive_of_covid=st.none() | st.booleans(),
        status=st.sampled_from(["F", "C", "P", "D", "X"]), observed_at=st.none() | times)
    return st.one_of(labs, diagnoses, signs, scans)


policies = st.builds(EligibilityPolicy, accept_antigen=st.booleans(),
                     contact_window_days=st.integers(0, 365),
                     negative_naat_blocks_diagnosis=st.booleans())
PROPERTY = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def check_invariants(decision: EligibilityDecision, policy: EligibilityPolicy,
                     as_of: date) -> None:
    assert decision.reasons
    assert all(r.fr.strip() and r.en.strip() for r in decision.reasons)
    assert decision.rule in {r.id for r in RULES}
    assert decision.requires_qr_attestation is (decision.decision == "confirmed")
    if decision.requires_rtpcr_attestation:
        assert decision.decision == "confirmed"
    if decision.decision == "not_eligible":
        assert decision.reference_date is None and decision.reference_date_kind is None
    elif decision.reference_date is not None:
        assert decision.reference_date <= as_of
        assert (as_of - decision.reference_date).days <= policy.contact_window_days


@PROPERTY
@given(st.lists(evidence_items(anytime, anyday), max_size=6), policies, anyday)
def test_evaluate_never_raises(evidence: list[Evidence], policy: EligibilityPolicy,
                               as_of: date) -> None:
    check_invariants(evaluate(evidence, policy, as_of), policy, as_of)
    is_covid_relevant(evidence, policy)


@PROPERTY
@given(st.lists(evidence_items(near, st.dates(date(2020, 10, 20), date(2020, 11, 30))),
                min_size=1, max_size=6).flatmap(lambda ev: st.tuples(st.just(ev),
                                                                     st.permutations(ev))),
       policies)
def test_order_of_evidence_never_changes_the_decision(
    pair: tuple[list[Evidence], list[Evidence]], policy: EligibilityPolicy
) -> None:
    original, shuffled = pair
    first = evaluate(original, policy, AS_OF)
    assert evaluate(shuffled, policy, AS_OF) == first
    check_invariants(first, policy, AS_OF)


@PROPERTY
@given(st.lists(evidence_items(near, st.dates(date(2020, 10, 20), date(2020, 11, 30))),
                min_size=1, max_size=5))
def test_unrelated_results_change_nothing(evidence: list[Evidence]) -> None:
    before = evaluate(evidence, as_of=AS_OF)
    after = evaluate([*evidence, lab("2345-7", None, numeric=5.0)], as_of=AS_OF)
    assert (after.decision, after.rule, after.reasons) == (before.decision, before.rule,
                                                           before.reasons)
