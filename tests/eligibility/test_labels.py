"""Tests named only in words: recognition, its guards, and no false issuance over label variants.

The properties build labels the way laboratory software writes them — the virus in any of its
spellings, a technique, a specimen, in any order, any case, with or without accents, with any
punctuation and spacing — and check that a positive RT-PCR is recognised, and that an antigen
test, a serology, another virus, a part of a test (gene target, control, variant) or a negative
result never gives a code.
"""

from __future__ import annotations

import unicodedata
from datetime import date, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prostop_plugin.eligibility import (
    EligibilityPolicy,
    Interpretation,
    LabCategory,
    classify_lab_result,
    evaluate,
    interpret_text,
    is_covid_relevant,
)
from prostop_plugin.eligibility.diagnosis_text import DiagnosisReading, read_diagnosis_text
from prostop_plugin.eligibility.labels import normalised, read_label
from prostop_plugin.models import Coding, DiagnosisEvidence, LabResult

AS_OF = date(2020, 11, 20)

VIRUS = ["SARS-CoV-2", "SARS-COV2", "sars cov 2", "SARSCOV2", "Sars-Cov-2", "SRAS-CoV-2",
         "COVID-19", "Covid 19", "COVID19", "covid", "2019-nCoV", "nCoV-2019",
         "coronavirus 2019", "Coronavirus SARS-CoV-2", "SARS-CoV2 (COVID-19)"]
NAAT = ["RT-PCR", "rt pcr", "RTPCR", "PCR", "TAAN", "RT-LAMP", "ARN", "génome", "RNA", "NAAT",
        "amplification génique", "biologie moléculaire", "RT-qPCR", "TMA", "détection du génome",
        "recherche d'ARN", "PCR temps réel", "GeneXpert", "EasyCov"]
SPECIMEN = ["", "(écouvillon nasopharyngé)", "prélèvement naso-pharyngé", "salive", "salivaire",
            "NP", "oropharyngé", "nasal swab", "expectoration", "LBA"]
ANTIGEN = ["Ag", "antigène", "antigénique", "Antigen", "TDR", "test antigénique rapide",
           "TROD antigénique", "autotest", "Ag rapide"]
SEROLOGY = ["sérologie", "Ac", "anticorps", "IgG", "IgM", "Ig totales", "anti-S", "anti-N",
            "antibody", "Ab", "anticorps neutralisants", "sérologie IgG anti-nucléocapside"]
OTHER_VIRUS = ["grippe A", "Influenza B", "VRS", "RSV", "HKU1", "OC43", "229E", "NL63",
               "MERS-CoV", "rhinovirus", "métapneumovirus", "H1N1", "virus respiratoire syncytial",
               "coronavirus saisonniers"]
PARTS = ["gène N", "gène E", "ORF1ab", "RdRp", "contrôle interne", "RNase P", "criblage",
         "mutation E484K", "variant", "séquençage", "N501Y", "cible S"]
POSITIVE = ["POSITIF", "Positif", "positive", "détecté", "DETECTE", "Detected", "Présence d'ARN",
            "+", "+++", "POS", "DET", "Positif (Ct 24)", "ARN viral détecté", "faiblement positif"]
NEGATIVE = ["NEGATIF", "négatif", "Non détecté", "ND", "Absence", "Not detected", "-", "NEG",
            "indétectable", "Absence d'ARN viral", "NON DETECTE"]
INDETERMINATE = ["Ininterprétable", "Indéterminé", "Douteux", "Invalide", "À contrôler",
                 "Positif à confirmer", "Inhibition"]


def _plain(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text)
                   if not unicodedata.combining(c))


@st.composite
def written(draw: st.DrawFn, parts: list[str]) -> str:
    """The parts of a label, in any order, case, accents, punctuation and spacing."""
    order = draw(st.permutations([p for p in parts if p]))
    text = draw(st.sampled_from([" ", " - ", " : ", "  ", " / ", ", "])).join(order)
    text = draw(st.sampled_from([str, str.upper, str.lower, str.title]))(text)
    if draw(st.booleans()):
        text = _plain(text)
    if draw(st.booleans()):
        text = f"{draw(st.sampled_from(['Recherche ', 'Détection ', '', 'Test ']))}{text}"
    return text


def result(label: str, value: str, panel: str | None = None) -> LabResult:
    return LabResult(
        test=Coding(code="LOC1", system="L", display=label), value_type="ST", value_text=value,
        panel=Coding(code="P1", system="L", display=panel) if panel else None,
        sender="LABO-TEST", collected_at=datetime(2020, 11, 17, 9),
        observed_at=datetime(2020, 11, 18, 16),
    )


PROPERTY = settings(max_examples=200, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(st.tuples(st.sampled_from(VIRUS), st.sampled_from(NAAT), st.sampled_from(SPECIMEN))
       .flatmap(lambda parts: written(list(parts))), st.sampled_from(POSITIVE))
def test_a_positive_rtpcr_named_in_words_is_confirmed_and_says_so(label: str, value: str) -> None:
    decision = evaluate([result(label, value)], as_of=AS_OF)
    assert (decision.decision, decision.rule) == ("confirmed", "naat_positive"), label
    assert "reconnue d'après le libellé" in decision.reasons[0].fr
    assert "recognised from the label" in decision.reasons[0].en


@PROPERTY
@given(st.tuples(st.sampled_from(VIRUS), st.sampled_from(ANTIGEN + SEROLOGY),
                 st.sampled_from(["", *NAAT]), st.sampled_from(SPECIMEN))
       .flatmap(lambda parts: written(list(parts))), st.sampled_from(POSITIVE))
def test_an_antigen_test_or_a_serology_never_gives_a_code(label: str, value: str) -> None:
    decision = evaluate([result(label, value)], as_of=AS_OF)
    assert decision.decision == "not_eligible", label


@PROPERTY
@given(st.tuples(st.sampled_from(["", *VIRUS]), st.sampled_from(OTHER_VIRUS),
                 st.sampled_from(["", *NAAT]), st.sampled_from(SPECIMEN))
       .flatmap(lambda parts: written(list(parts))), st.sampled_from(POSITIVE))
def test_another_virus_named_in_the_label_never_gives_a_code(label: str, value: str) -> None:
    decision = evaluate([result(label, value)], as_of=AS_OF)
    assert decision.decision == "not_eligible", label


@PROPERTY
@given(st.tuples(st.sampled_from(VIRUS), st.sampled_from(PARTS), st.sampled_from(["", *NAAT]))
       .flatmap(lambda parts: written(list(parts))), st.sampled_from(POSITIVE))
def test_a_gene_target_a_control_or_a_variant_never_gives_a_code(label: str, value: str) -> None:
    decision = evaluate([result(label, value)], as_of=AS_OF)
    assert decision.decision == "not_eligible", label


@PROPERTY
@given(st.tuples(st.sampled_from(VIRUS), st.sampled_from(NAAT), st.sampled_from(SPECIMEN))
       .flatmap(lambda parts: written(list(parts))),
       st.sampled_from(NEGATIVE + INDETERMINATE))
def test_a_negative_or_indeterminate_rtpcr_never_gives_a_code(label: str, value: str) -> None:
    decision = evaluate([result(label, value)], as_of=AS_OF)
    assert decision.decision == "not_eligible", (label, value)
    assert decision.rule in ("naat_negative", "naat_indeterminate"), (label, value)


@PROPERTY
@given(st.sampled_from(["Résultat", "Conclusion", "Interprétation", "Résultat de la recherche",
                        "ARN", "Détection"]),
       st.tuples(st.sampled_from(OTHER_VIRUS), st.sampled_from(VIRUS), st.sampled_from(NAAT))
       .flatmap(lambda parts: written(list(parts))), st.sampled_from(POSITIVE))
def test_a_multiplex_orders_generic_result_line_is_never_a_rtpcr(label: str, panel: str,
                                                                value: str) -> None:
    decision = evaluate([result(label, value, panel)], as_of=AS_OF)
    assert decision.decision == "not_eligible", (label, panel)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60), st.text(max_size=30), st.none() | st.text(max_size=40))
def test_any_words_are_read_without_error(label: str, value: str, panel: str | None) -> None:
    item = result(label or "x", value, panel)
    decision = evaluate([item], as_of=AS_OF)
    if decision.decision == "confirmed":  # only ever on a virus and a technique named
        assert read_label(label or "x", value, panel) is not None


# -- table-driven ------------------------------------------------------------------------------


@pytest.mark.parametrize(("label", "value", "panel", "category"), [
    ("CORONAVIRUS SARS COV2 (COVID 19) : DEPISTAGE PAR RT-PCR", None, None, "naat"),
    ("PCR COVID (DEPISTAGE DE MASSE)", None, None, "naat"),
    ("SARS-CoV-2 PCR Salivaire", None, None, "naat"),
    ("Détection du génome du SARS-CoV-2 par les techniques d'amplification génique", None, None,
     "naat"),
    ("COVID-19", "Présence d'ARN viral", None, "naat"),
    ("SARS-CoV-2", None, "PCR multiplex respiratoire", "naat"),
    ("Résultat", None, "RT-PCR SARS-CoV-2", "naat"),
    ("SÉRO SARS-COV-2 IgG ANTI-PROTEINE S : contrôle de vaccination", None, None, "serology"),
    ("SEROLOGIE COVID", None, None, "serology"),
    ("Détection des antigènes du SARS-CoV-2 par technique de diagnostic rapide", None, None,
     "antigen"),
    ("TROD COVID-19", None, None, "unspecified"),  # antigen or serology: not said
    ("COVID-19 PCR et antigène", None, None, "unspecified"),
    ("Recherche SARS-CoV-2", "POSITIF", None, "unspecified"),
    ("SARS-CoV-2 / grippe A", "POSITIF", None, "unspecified"),
    ("SARS-CoV-2 Ct gène E", "24", None, "ct_value"),
    ("Charge virale SARS-CoV-2", "5,2 log", None, "ct_value"),
    ("SARS-CoV-2 gène N", "Détecté", None, None),
    ("Contrôle interne", "Détecté", "RT-PCR SARS-CoV-2", None),
    ("", "Positif", "RT-PCR SARS-CoV-2", None),  # no label: could be the control
    ("Résultat", "Positif", "PCR multiplex grippe / SARS-CoV-2", None),
    ("Coronavirus HKU1", "Détecté", None, None),
    ("Influenza A RNA", None, None, None),
    ("Glycémie à jeun", "5.1", None, None),
])
def test_read_label(label: str, value: str | None, panel: str | None,
                    category: str | None) -> None:
    found = read_label(label, value, panel)
    assert (found.category if found else None) == category


def test_normalised_ignores_case_accents_punctuation_and_spacing() -> None:
    assert normalised("  Sérologie  SARS-CoV-2 (IgG) ") == "SEROLOGIE SARS COV 2 IGG"
    assert normalised("ŒDÈME") == "OEDEME"


@pytest.mark.parametrize(("text", "expected"), [
    ("+", "positive"), ("+++", "positive"), ("-", "negative"), ("+/-", "unknown"),
    ("POS", "positive"), ("NEG", "negative"), ("ND", "negative"), ("DET", "positive"),
    ("Présence d'ARN viral", "positive"), ("Présence non détectée", "negative"),
    ("Non détectable", "negative"), ("Absent", "negative"), ("À contrôler", "indeterminate"),
    ("Positif à confirmer", "indeterminate"), ("Inhibition", "indeterminate"),
    ("non concluant", "indeterminate"), ("IND", "indeterminate"),
])
def test_result_words(text: str, expected: str) -> None:
    assert interpret_text(text) is Interpretation(expected)


def test_a_local_coded_value_is_read_from_its_code_when_it_has_no_display() -> None:
    item = result("SARS-CoV-2 RT-PCR", "")
    item.value_text = None
    item.value_coded = Coding(code="POS", system="L")
    assert evaluate([item], as_of=AS_OF).decision == "confirmed"


@pytest.mark.parametrize(("text", "reading", "code"), [
    ("COVID-19 confirmé", "confirmed", None),
    ("Infection à SARS-CoV-2 confirmée par RT-PCR", "confirmed", None),
    ("COVID+", "confirmed", None),
    ("Confirmed COVID-19", "confirmed", None),
    ("COVID-19 (U07.1)", "coded", "U07.1"),
    ("U07.14 COVID-19 autre, virus identifié", "coded", "U07.14"),
    ("COVID-19", "suspected", None),
    ("Suspicion de COVID-19", "suspected", None),
    ("COVID-19 ?", "suspected", None),
    ("COVID-19, virus non identifié", "suspected", None),
    ("COVID-19, virus not identified", "suspected", None),
    ("COVID-19 probable (scanner)", "suspected", None),
    ("Cas contact COVID", "ruled_out", None),
    ("COVID-19 exclue", "ruled_out", None),
    ("Pas de COVID-19", "ruled_out", None),
    ("PCR COVID négative", "ruled_out", None),
    ("COVID-19 confirmé sans signe de gravité", "confirmed", None),
    ("Antécédent de COVID-19", "unrelated", None),
    ("COVID long", "unrelated", None),
    ("Vaccination COVID-19", "unrelated", None),
    ("Grippe", "unrelated", None),
])
def test_diagnosis_words(text: str, reading: str, code: str | None) -> None:
    assert read_diagnosis_text(text) == (DiagnosisReading(reading), code)


@pytest.mark.parametrize(("diagnosis", "decision", "rule"), [
    (DiagnosisEvidence(text="COVID-19 confirmé"), "confirmed", "diagnosis_confirmed"),
    (DiagnosisEvidence(code=Coding(code="COV1", system="LGC", display="COVID-19 (U07.1)")),
     "confirmed", "diagnosis_confirmed"),
    (DiagnosisEvidence(text="COVID-19 confirmé", status="working"), "not_eligible",
     "diagnosis_not_final"),
    (DiagnosisEvidence(text="Suspicion de COVID-19"), "not_eligible", "suspected"),
    (DiagnosisEvidence(text="Cas contact"), "not_eligible", "no_covid_evidence"),
    (DiagnosisEvidence(text="COVID-19 écartée"), "not_eligible", "ruled_out"),
    # a code of a known system says what it says, whatever its display
    (DiagnosisEvidence(code=Coding(code="J18.9", system="I10", display="COVID-19 confirmé")),
     "not_eligible", "no_covid_evidence"),
])
def test_diagnoses_in_words(diagnosis: DiagnosisEvidence, decision: str, rule: str) -> None:
    diagnosis.recorded_at = datetime(2020, 11, 19, 14)
    found = evaluate([diagnosis], as_of=AS_OF)
    assert (found.decision, found.rule) == (decision, rule)
    if rule != "no_covid_evidence":
        assert "reconnu d'après le libellé" in found.reasons[0].fr


def test_a_diagnosis_needs_a_code_or_words() -> None:
    with pytest.raises(ValueError, match="a code or a text"):
        DiagnosisEvidence()


def test_a_result_named_sars_cov_2_without_technique_is_stored_and_explained() -> None:
    unspecified = result("Recherche SARS-CoV-2", "POSITIF")
    assert classify_lab_result(unspecified) is LabCategory.UNSPECIFIED
    assert is_covid_relevant([unspecified])  # the physician sees why no code is offered
    assert not is_covid_relevant([result("Criblage SARS-CoV-2 mutation E484K", "Détectée")])
    assert not is_covid_relevant([result("Coronavirus OC43", "Détecté")])


def test_a_known_loinc_code_wins_over_the_words() -> None:
    item = result("Test antigénique SARS-CoV-2", "POSITIF")
    item.test_alternate = Coding(code="94500-6", system="LN")
    assert classify_lab_result(item) is LabCategory.NAAT
    assert "d'après le libellé" not in evaluate([item], as_of=AS_OF).reasons[0].fr


def test_the_admin_map_wins_over_the_words_and_is_per_sender() -> None:
    item = result("SARS-CoV-2 RT-PCR", "POSITIF")
    mine = EligibilityPolicy(local_codes={"labo-test": {"LOC1": "94558-4"}})
    theirs = EligibilityPolicy(local_codes={"AUTRE-LABO": {"LOC1": "94558-4"}})
    everyone = EligibilityPolicy(local_codes={"L:LOC1": "94762-2"})
    assert classify_lab_result(item, mine) is LabCategory.ANTIGEN  # sender case-insensitive
    assert classify_lab_result(item, theirs) is LabCategory.NAAT  # still from the words
    assert classify_lab_result(item, everyone) is LabCategory.SEROLOGY
    unrelated = EligibilityPolicy(local_codes={"LABO-TEST": {"LOC1": "2345-7"}})
    assert classify_lab_result(item, unrelated) is LabCategory.OTHER  # "not a SARS-CoV-2 test"
