"""Readers give each result its sender and its order, and keep diagnoses sent in words only."""

from __future__ import annotations

from pathlib import Path

from prostop_plugin.models import DiagnosisEvidence, LabResult
from prostop_plugin.readers import read_file

CORPUS = Path(__file__).resolve().parents[1] / "eligibility" / "corpus"


def results(name: str) -> list[LabResult]:
    return [item for event in read_file(CORPUS / name) for item in event.evidence
            if isinstance(item, LabResult)]


def test_hl7_results_carry_msh4_and_obr4() -> None:
    first, *others = results("hl7_24_multiplex_sarscov2_positive.hl7")
    assert first.sender == "CH-VALLEE" and all(r.sender == "CH-VALLEE" for r in others)
    assert first.panel is not None and first.panel.code == "PCRRESP"
    assert first.panel.display == "PCR multiplex respiratoire (SARS-CoV-2, grippe A/B, VRS)"


def test_hl7_231_ce_values_and_a_missing_obx11() -> None:
    (result,) = results("hl7_231_pcr_local_positive.hl7")
    assert result.status == "F"  # OBX-11 absent: the sender did not qualify it
    assert result.value_coded is not None and result.value_coded.code == "POS"
    assert result.test.display == "SARS-CoV-2 RT-PCR (écouvillon nasopharyngé)"  # Latin-1


def test_dg1_in_words_only_is_kept() -> None:
    (event,) = read_file(CORPUS / "hl7_25_dg1_text_confirmed.hl7")
    (diagnosis,) = event.evidence
    assert isinstance(diagnosis, DiagnosisEvidence) and diagnosis.code is None
    assert diagnosis.text == "COVID-19 confirmé (RT-PCR positive)"
    (event,) = read_file(CORPUS / "hl7_25_dg1_text_history.hl7")  # DG1-4, the description
    assert isinstance(event.evidence[0], DiagnosisEvidence)
    assert event.evidence[0].text == "Antécédent de COVID-19 (mars 2020)"


def test_cda_results_carry_the_authors_organisation_and_problems_their_words() -> None:
    (result,) = results("cda_localcode_pcr_positive.xml")
    assert result.sender == "Laboratoire de Rochefort"
    (event,) = read_file(CORPUS / "cda_problem_text_confirmed.xml")
    (diagnosis,) = event.evidence
    assert isinstance(diagnosis, DiagnosisEvidence) and diagnosis.code is None
    assert diagnosis.text == "Infection à SARS-CoV-2 confirmée (PCR +)"
