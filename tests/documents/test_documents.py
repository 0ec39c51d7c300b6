"""Write-back documents: built, then read back with our own readers and lxml."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree  # type: ignore[import-untyped,unused-ignore]

from prostop_plugin.documents import (
    APP_OID,
    CDA_NOTE_RULES,
    NIR_ROOT,
    PATIENT_ID_ROOT,
    build_cda_note,
    build_hprim_report,
    cda_note_problems,
)
from prostop_plugin.errors import ConfigError
from prostop_plugin.hl7.cda import NS, parse_cda, read_cda
from prostop_plugin.hprim import PARIS, parse_hprim, read_hprim
from prostop_plugin.models import PatientRef, Practitioner

PATIENT = PatientRef(
    host_patient_id="IPP-0042", ins="280013306312376", ins_oid="1.2.250.1.213.1.4.8",
    family_name="DUPONT", given_name="CAMILLE", birth_date=date(1980, 1, 15), sex="F",
)
DOCTOR = Practitioner(national_id="10003456789", family_name="DURAND", given_name="Claire",
                      profession_code="10")
NOTE = ["Code StopCovid remis au patient : AB12CD", "Valable jusqu'au 21/11/2020 <inclus> & plus"]


def _note(**overrides: object) -> bytes:
    arguments: dict[str, object] = {
        "patient": PATIENT, "note_lines": NOTE, "title": "Déclaration StopCovid",
        "author": DOCTOR, "document_id": "prostop-7f3a", "effective_time":
        datetime(2020, 11, 20, 10, 30, tzinfo=PARIS),
        "source_document_ids": ["1.2.250.1.999.1.1^CRBIO-2020-7710050", "LG-7710040#34141fda"],
    }
    arguments.update(overrides)
    return build_cda_note(**arguments)  # type: ignore[arg-type]


def _xpath(root: etree._Element, path: str) -> list[str]:
    return [str(v) for v in root.xpath(path, namespaces=NS)]


# --- CDA note -------------------------------------------------------------------------------


def test_cda_note_is_well_formed_and_meets_every_structural_rule() -> None:
    data = _note()
    assert data.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    root = parse_cda(data, "note.xml")  # our own hardened reader accepts it
    assert cda_note_problems(data) == []
    assert _xpath(root, "hl7:templateId/@root") == ["2.16.840.1.113883.2.8.2.1",
                                                    "1.2.250.1.213.1.1.1.1"]
    assert _xpath(root, "hl7:id/@extension") == ["prostop-7f3a"]
    assert _xpath(root, "hl7:effectiveTime/@value") == ["20201120103000+0100"]


def test_cda_note_carries_the_patient_identifiers_from_the_source() -> None:
    root = parse_cda(_note(), "note.xml")
    role = "hl7:recordTarget/hl7:patientRole"
    assert _xpath(root, f"{role}/hl7:id/@root") == ["1.2.250.1.213.1.4.8", PATIENT_ID_ROOT]
    assert _xpath(root, f"{role}/hl7:id/@extension") == ["280013306312376", "IPP-0042"]
    assert _xpath(root, f"{role}/hl7:patient/hl7:name/hl7:family/text()") == ["DUPONT"]
    assert _xpath(root, f"{role}/hl7:patient/hl7:birthTime/@value") == ["19800115"]
    assert _xpath(root, f"{role}/hl7:patient/hl7:administrativeGenderCode/@code") == ["F"]
    assert _xpath(root, "hl7:author/hl7:assignedAuthor/hl7:id/@extension") == ["810003456789"]


def test_cda_note_text_is_escaped_by_construction_and_kept_line_by_line() -> None:
    root = parse_cda(_note(), "note.xml")
    [paragraph] = root.xpath("//hl7:section/hl7:text/hl7:paragraph", namespaces=NS)
    lines = [paragraph.text] + [br.tail for br in paragraph]
    assert lines == NOTE
    comment = "//hl7:act[hl7:templateId/@root='1.2.250.1.213.1.1.3.32']"
    assert _xpath(root, f"{comment}/hl7:code/@code") == ["48767-8"]
    assert _xpath(root, f"{comment}/hl7:reference/hl7:externalDocument/hl7:id/@extension") == [
        "CRBIO-2020-7710050", "LG-7710040#34141fda"]
    assert _xpath(root, f"{comment}/hl7:reference/hl7:externalDocument/hl7:id/@root")[0] == (
        "1.2.250.1.999.1.1")


def test_unqualified_nir_is_carried_but_not_asserted_as_ins() -> None:
    patient = PATIENT.model_copy(update={"ins_oid": None})
    root = parse_cda(_note(patient=patient), "note.xml")
    assert _xpath(root, "//hl7:patientRole/hl7:id/@root") == [PATIENT_ID_ROOT, NIR_ROOT]
    assert _xpath(root, "//hl7:patientRole/hl7:id/@extension") == ["IPP-0042",
                                                                    "280013306312376"]


def test_cda_note_is_never_read_back_as_evidence() -> None:
    """Should the outbox ever be pointed at the inbox, a note triggers nothing."""
    assert read_cda(_note(), "note.xml", "filedrop") == []


def test_cda_note_without_author_minimal_patient_and_naive_time() -> None:
    patient = PatientRef(host_patient_id="280013306312376", ins="280013306312376")
    data = _note(patient=patient, author=None, effective_time=datetime(2020, 7, 1, 9, 0),
                 source_document_ids=(), document_id="0b8f4a7e-3c1d-4f7a-9e2b-1a2b3c4d5e6f")
    root = parse_cda(data, "note.xml")
    assert cda_note_problems(data) == []
    assert _xpath(root, "hl7:effectiveTime/@value") == ["20200701090000+0200"]  # Paris summer
    assert _xpath(root, "hl7:id/@root") == ["0B8F4A7E-3C1D-4F7A-9E2B-1A2B3C4D5E6F"]
    # a NIR without INS OID is not asserted as an INS: only as the source's own id
    assert _xpath(root, "//hl7:patientRole/hl7:id/@root") == [PATIENT_ID_ROOT]
    assert _xpath(root, "//hl7:assignedAuthoringDevice/hl7:softwareName/text()") == [
        "prostop-plugin"]
    assert _xpath(root, "//hl7:assignedAuthor/hl7:id/@root") == [APP_OID]
    assert _xpath(root, "//hl7:patient/hl7:name/@nullFlavor") == ["UNK"]


@pytest.mark.parametrize(("remove", "broken"), [
    ("hl7:templateId[1]", "French templateIds"),
    ("hl7:custodian", "custodian"),
    ("hl7:recordTarget/hl7:patientRole/hl7:id", "patient identified"),
    ("//hl7:act/hl7:templateId[@root='1.2.250.1.213.1.1.3.32']", "FR-Commentaire-ER entry"),
    ("//hl7:act/hl7:text", "comment text points into the narrative"),
])
def test_structural_rules_catch_a_missing_part(remove: str, broken: str) -> None:
    root = etree.fromstring(_note())
    for element in root.xpath(remove, namespaces=NS):
        element.getparent().remove(element)
    assert broken in cda_note_problems(etree.tostring(root))


def test_every_rule_is_named_once() -> None:
    names = [what for what, _ in CDA_NOTE_RULES]
    assert len(names) == len(set(names)) >= 10


@settings(max_examples=60, deadline=timedelta(seconds=2))
@given(st.lists(st.text(max_size=80), min_size=1, max_size=5), st.text(max_size=40))
def test_any_text_gives_a_well_formed_note(lines: list[str], family: str) -> None:
    patient = PATIENT.model_copy(update={"family_name": family or None})
    data = _note(note_lines=lines, patient=patient, title=family or "Note")
    assert cda_note_problems(data) == []


# --- HPRIM report ---------------------------------------------------------------------------


def _report(**overrides: object) -> bytes:
    arguments: dict[str, object] = {
        "patient": PATIENT, "note_lines": ["Code StopCovid : AB12CD", "Prévenir l’entourage"],
        "title": "PROSTOP", "sender": "PROSTOP prostop-plugin", "recipient": DOCTOR,
        "date": date(2020, 11, 20), "file_number": "PS-0001",
    }
    arguments.update(overrides)
    return build_hprim_report(**arguments)  # type: ignore[arg-type]


def test_hprim_report_reads_back_with_our_reader() -> None:
    data = _report()
    [report] = parse_hprim(data, "note.hpr")
    assert (report.title, report.family_name, report.given_name) == ("PROSTOP", "DUPONT",
                                                                      "CAMILLE")
    assert (report.birth_date, report.nir_raw, report.file_number) == (
        date(1980, 1, 15), "280013306312376", "PS-0001")
    assert report.report_date == date(2020, 11, 20)
    assert (report.sender_code, report.sender_name) == (None, "PROSTOP prostop-plugin")
    assert (report.recipient_code, report.recipient_name) == ("10003456789", "Dr Claire DURAND")
    assert report.free_text == ["Code StopCovid : AB12CD", "Prévenir l'entourage"]
    assert read_hprim(data, "note.hpr", "filedrop") == []  # a note, not a lab result


def test_hprim_report_is_latin1_crlf_and_complete() -> None:
    data = _report()
    assert "Prévenir".encode("latin-1") in data
    assert data.count(b"\r\n") == data.count(b"\n") == 15
    assert data.endswith(b"****FINFICHIER****\r\n")
    assert b"****LAB****" not in data
    data.decode("latin-1")


def test_hprim_report_in_utf8_and_transliteration() -> None:
    assert "Prévenir".encode() in _report(encoding="utf-8")
    latin = _report(note_lines=["œuvre – Nguyễn 中"], patient=PATIENT.model_copy(
        update={"family_name": "NGUYỄN"}))
    lines = latin.decode("latin-1").split("\r\n")
    assert lines[1] == "NGUYEN" and lines[12] == "oeuvre - Nguyen ?"


def test_hprim_report_cannot_be_broken_by_its_content() -> None:
    data = _report(note_lines=["****LAB****", "RES|faux|94500-6|A|POSITIF||||A|F", "****FIN****"],
                   title="A\r\nB", sender="X\nY")
    assert read_hprim(data, "note.hpr", "filedrop") == []
    lines = data.decode("latin-1").split("\r\n")
    assert lines[0] == "A B" and lines[10] == "X Y" and len(lines) == 17


def test_unknown_encoding_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match="unknown encoding"):
        _report(encoding="klingon")
