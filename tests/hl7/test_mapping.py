"""Transcription of HL7 v2 messages into events: the corpus, field by field, and edge cases."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from prostop_plugin.errors import HL7ParseError
from prostop_plugin.hl7.er7 import parse
from prostop_plugin.hl7.mapping import (
    PARIS,
    HL7FieldError,
    MappedMessage,
    UnsupportedMessageType,
    map_message,
    parse_hl7_datetime,
)
from prostop_plugin.models import DiagnosisEvidence, LabResult, content_hash
from tests.corpus_location import CORPUS
from tests.paths import TESTS

needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is not laid out")
CASES = TESTS / "hl7_cases"

MSH = "MSH|^~\\&|LAB|LABO-X|LGC|CAB|20201119101500||{type}|MID-1|P|2.5|||AL|NE|FRA|UNICODE UTF-8"
PID = "PID|||DOS-1^^^CAB^PI||DUPONT^CAMILLE^^^^^L||19800115|F"
OBR = "OBR|1||L1|94531-1^Panel^LN|||20201118093000"


def seg(name: str, fields: dict[int, str]) -> str:
    """A segment from its non-empty fields, so that field numbers are not counted by hand."""
    return "|".join([name] + [fields.get(n, "") for n in range(1, max(fields) + 1)])


def obx(status: str = "F", value: str = "POSITIF", **more: str) -> str:
    fields = {1: "1", 2: "ST", 3: "X^PCR^L", 5: value, 11: status}
    fields.update({int(k.removeprefix("f")): v for k, v in more.items()})
    return seg("OBX", fields)


def mapped(*segments: str, type_: str = "ORU^R01^ORU_R01") -> MappedMessage:
    data = "\r".join([MSH.format(type=type_), *segments]).encode("utf-8") + b"\r"
    return map_message(parse(data), adapter="test", raw=data)


def lab(*segments: str) -> LabResult:
    result = mapped(PID, OBR, *segments).events[0].evidence[0]
    assert isinstance(result, LabResult)
    return result


def corpus(name: str) -> MappedMessage:
    data = (CORPUS / name).read_bytes()
    return map_message(parse(data), adapter="file", raw=data)


def paris(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=PARIS)


# --- the corpus -------------------------------------------------------------------------------


@needs_corpus
def test_corpus_rtpcr_positive() -> None:
    m = corpus("oru_rtpcr_positive.hl7")
    assert (m.message_type, m.message_id, m.corrections, m.warnings) == (
        "ORU^R01", "LG20201119-0001", [], [])
    [event] = m.events
    assert event.source.adapter == "file"
    assert event.source.host == "LABO-GARONNE"
    assert event.source.message_id == "LG20201119-0001"
    assert event.source.format == "hl7v2"
    assert event.source.content_hash == content_hash((CORPUS / "oru_rtpcr_positive.hl7")
                                                     .read_bytes())
    assert event.patient.host_patient_id == "DOS-4411"
    assert event.patient.ins == "280013306312376"
    assert event.patient.ins_oid == "1.2.250.1.213.1.4.10"
    assert (event.patient.family_name, event.patient.given_name) == ("DUPONT", "CAMILLE")
    assert (event.patient.birth_date, event.patient.sex) == (date(1980, 1, 15), "F")
    assert event.practitioner is None  # OBR-16 "^DURAND^CLAIRE" has no RPPS
    assert event.recorded_at == paris(2020, 11, 19, 10, 15)  # MSH-7
    pcr, ct = event.evidence
    assert isinstance(pcr, LabResult) and isinstance(ct, LabResult)
    assert (pcr.test.code, pcr.test.system) == ("94500-6", "LN")
    assert pcr.test_alternate is None
    assert pcr.value_type == "CWE"
    assert pcr.value_coded is not None
    assert (pcr.value_coded.code, pcr.value_coded.system, pcr.value_coded.display) == (
        "10828004", "SCT", "positif")
    assert (pcr.abnormal_flag, pcr.status, pcr.source_ref) == ("A", "F", "OBX[1]")
    assert pcr.observed_at == paris(2020, 11, 19, 10, 5)
    assert pcr.collected_at == paris(2020, 11, 18, 9, 30)  # OBR-7
    assert (ct.test.code, ct.value_type, ct.value_numeric, ct.value_text, ct.unit) == (
        "94745-7", "NM", 24.1, "24.1", "{Ct}")
    assert ct.source_ref == "OBX[2]"


@needs_corpus
def test_corpus_localcode_latin1() -> None:
    m = corpus("oru_localcode_latin1.hl7")
    [event] = m.events
    [result] = event.evidence
    assert isinstance(result, LabResult)
    assert (result.test.code, result.test.system) == ("COVPCR", "L")
    assert result.test.display == "SARS-CoV-2 PCR (écouvillon nasopharyngé)"
    assert result.test_alternate is not None
    assert (result.test_alternate.code, result.test_alternate.system) == ("94309-2", "LN")
    assert (result.value_type, result.value_text, result.value_coded) == ("ST", "POSITIF", None)
    assert (result.abnormal_flag, result.status) == ("A", "F")
    assert result.collected_at == paris(2020, 11, 17, 8, 0)
    assert result.observed_at == paris(2020, 11, 18, 16, 50)
    assert event.source.host == "LABO-DORDOGNE"
    assert event.patient.host_patient_id == "DOS-5120"
    assert event.patient.ins == "167032432204539"


@needs_corpus
def test_corpus_rtpcr_negative_serology_antigen() -> None:
    negative = corpus("oru_rtpcr_negative.hl7").events[0].evidence[0]
    assert isinstance(negative, LabResult) and negative.value_coded is not None
    assert (negative.test.code, negative.value_coded.code, negative.abnormal_flag) == (
        "94500-6", "260385009", "N")
    assert negative.value_coded.display == "négatif"
    serology = corpus("oru_serology_positive.hl7").events[0].evidence[0]
    assert isinstance(serology, LabResult) and serology.value_coded is not None
    assert (serology.test.code, serology.value_coded.code) == ("94563-4", "10828004")
    antigen = corpus("oru_antigen_positive.hl7")
    result = antigen.events[0].evidence[0]
    assert isinstance(result, LabResult)
    assert result.test.code == "94558-4"
    assert antigen.events[0].source.host == "PHARMACIE-CENTRE"


@needs_corpus
def test_corpus_ct_groundglass() -> None:
    finding, narrative = corpus("oru_ct_groundglass.hl7").events[0].evidence
    assert isinstance(finding, LabResult) and isinstance(narrative, LabResult)
    assert finding.test.code == "24627-2"
    assert finding.value_coded is not None and finding.value_coded.code == "1217294009"
    assert (narrative.test.code, narrative.value_type) == ("18782-3", "TX")
    assert narrative.value_text == (
        "Opacités en verre dépoli bilatérales, aspect évocateur de COVID-19.")


@needs_corpus
def test_corpus_adt_u071_final() -> None:
    m = corpus("adt_u071_final.hl7")
    assert m.message_type == "ADT^A08"
    [event] = m.events
    [diagnosis] = event.evidence
    assert isinstance(diagnosis, DiagnosisEvidence)
    assert (diagnosis.code.code, diagnosis.code.system, diagnosis.status) == (
        "U07.1", "I10", "final")
    assert diagnosis.code.display == "COVID-19, virus identifié"
    assert diagnosis.recorded_at == paris(2020, 11, 19)
    assert (diagnosis.source_ref) == "DG1[1]"
    assert event.practitioner is not None
    assert event.practitioner.national_id == "810003456789"
    assert event.practitioner.rpps == "10003456789"
    assert (event.practitioner.family_name, event.practitioner.given_name) == (
        "DURAND", "CLAIRE")
    assert event.recorded_at == paris(2020, 11, 19, 14, 30)  # EVN-2


@needs_corpus
def test_corpus_adt_u072_no_ct() -> None:
    [event] = corpus("adt_u072_no_ct.hl7").events
    diagnosis, symptoms, onset = event.evidence
    assert isinstance(diagnosis, DiagnosisEvidence)
    assert (diagnosis.code.code, diagnosis.status) == ("U07.2", "working")
    assert isinstance(symptoms, LabResult) and symptoms.value_coded is not None
    assert (symptoms.test.code, symptoms.value_coded.code, symptoms.value_coded.system) == (
        "95419-8", "Y", "HL70136")
    assert symptoms.collected_at is None  # ADT: no OBR
    assert isinstance(onset, LabResult)
    assert (onset.test.code, onset.value_type, onset.value_text) == ("65222-2", "DT", "20201116")
    assert event.patient.family_name == "MARTIN"


# --- hl7_cases --------------------------------------------------------------------------------


def test_two_patients_in_one_oru_and_a_correction() -> None:
    data = (CASES / "oru_two_patients_correction.hl7").read_bytes()
    m = map_message(parse(data), adapter="test", raw=data)
    first, second = m.events
    assert (first.source.message_id, second.source.message_id) == ("MP-77#1", "MP-77#2")
    assert first.source.dedupe_key() != second.source.dedupe_key()
    assert first.patient.host_patient_id == "DOS-4411"
    assert second.patient.host_patient_id == "DOS-5120"
    assert second.patient.ins_oid == "1.2.250.1.213.1.4.8"  # INS listed second in PID-3
    assert first.practitioner is not None and first.practitioner.rpps == "10003456789"
    [correction] = m.corrections
    assert correction.result.status == "C"
    assert correction.patient.host_patient_id == "DOS-4411"
    assert correction.source.message_id == "MP-77#1"
    assert first.evidence[0].source_ref == "OBX[1]"
    assert second.evidence[0].source_ref == "OBX[2]"


def test_latin9_case_values() -> None:
    data = (CASES / "oru_latin9_escapes.hl7").read_bytes()
    [event] = map_message(parse(data), adapter="test", raw=data).events
    assert event.patient.host_patient_id == "DOS-9|1"
    assert event.patient.family_name == "LÉONARD"
    note, antibodies, ct = event.evidence
    assert isinstance(note, LabResult)
    assert note.value_text == "Frais: 5 €\nRatio 1^2 & co|pie\nligne 2 \\ fin"
    assert isinstance(antibodies, LabResult)
    assert (antibodies.value_type, antibodies.value_text, antibodies.value_numeric) == (
        "SN", "<10", None)
    assert isinstance(ct, LabResult)
    assert ct.observed_at == datetime(2020, 11, 20, 9, 30, tzinfo=timezone(timedelta(hours=2)))


# --- values, statuses, dates ------------------------------------------------------------------


def test_sn_values() -> None:
    exact = lab("OBX|1|SN|X^Titre^L||^24.5||||||F")
    assert (exact.value_text, exact.value_numeric) == ("24.5", 24.5)
    ratio = lab("OBX|1|SN|X^Titre^L||^1^:^128||||||F")
    assert (ratio.value_text, ratio.value_numeric) == ("1:128", None)
    greater = lab("OBX|1|SN|X^Titre^L||>^40||||||F")
    assert (greater.value_text, greater.value_numeric) == (">40", None)


def test_nm_values_that_are_not_numbers() -> None:
    assert lab("OBX|1|NM|X^Ct^L||<10||||||F").value_numeric is None
    assert lab("OBX|1|NM|X^Ct^L||<10||||||F").value_text == "<10"
    assert lab("OBX|1|NM|X^Ct^L||" + "9" * 400 + "||||||F").value_numeric is None
    assert lab("OBX|1|NM|X^Ct^L||1_0||||||F").value_numeric is None  # float() would say 10
    assert lab("OBX|1|NM|X^Ct^L||-.5||||||F").value_numeric == -0.5


def test_coded_value_prefers_a_standard_alternate_over_a_local_code() -> None:
    local_first = lab("OBX|1|CWE|X^PCR^L||POS^Positif^L^10828004^positif^SCT||||||F")
    assert local_first.value_coded is not None
    assert (local_first.value_coded.code, local_first.value_coded.system) == ("10828004", "SCT")
    standard_first = lab("OBX|1|CE|X^PCR^L||260385009^négatif^SCT^NEG^Négatif^L||||||F")
    assert standard_first.value_coded is not None
    assert standard_first.value_coded.code == "260385009"
    local_only = lab("OBX|1|CWE|X^PCR^L||POS^Positif^99LAB||||||F")
    assert local_only.value_coded is not None
    assert (local_only.value_coded.code, local_only.value_coded.system) == ("POS", "99LAB")
    text_only = lab("OBX|1|CWE|X^PCR^L||^DETECTE||||||F")
    assert (text_only.value_coded, text_only.value_text) == (None, "DETECTE")


def test_test_code_falls_back_to_the_alternate() -> None:
    result = lab("OBX|1|ST|^^^94309-2^SARS-CoV-2 RNA^LN||NON DETECTE||||||F")
    assert (result.test.code, result.test.system, result.test_alternate) == ("94309-2", "LN",
                                                                            None)
    assert result.value_text == "NON DETECTE"


def test_text_values_join_repetitions_and_keep_delimiters_sent_unescaped() -> None:
    result = lab("OBX|1|FT|X^Note^L||ligne 1\\.br\\ligne 2~ligne 3 a^b||||||F")
    assert result.value_text == "ligne 1\nligne 2\nligne 3 a^b"


def test_dates_times_and_opaque_values() -> None:
    assert lab("OBX|1|TS|X^Date^L||20201116083000^M||||||F").value_text == "20201116083000"
    m = mapped(PID, OBR, "OBX|1|ED|X^PDF^L||^application^pdf^Base64^JVBERi0=||||||F")
    result = m.events[0].evidence[0]
    assert isinstance(result, LabResult) and result.value_text is None
    assert m.warnings == ["OBX[1]: ED value not transcribed"]


@pytest.mark.parametrize(
    ("sent", "status", "corrected"),
    [("F", "F", False), ("C", "C", True), ("D", "D", True), ("P", "P", False),
     ("X", "X", False), ("U", "F", False), ("W", "D", True), ("N", "X", False),
     ("R", "P", False), ("S", "P", False), ("", "F", False), ("Z", "P", False)],
)
def test_result_status_and_corrections(sent: str, status: str, corrected: bool) -> None:
    m = mapped(PID, OBR, obx(sent))
    result = m.events[0].evidence[0]
    assert isinstance(result, LabResult) and result.status == status
    assert [c.result for c in m.corrections] == ([result] if corrected else [])


def test_hl7_datetimes() -> None:
    assert parse_hl7_datetime("") is None
    assert parse_hl7_datetime("2020") == paris(2020, 1, 1)
    assert parse_hl7_datetime("202011") == paris(2020, 11, 1)
    assert parse_hl7_datetime("20201119") == paris(2020, 11, 19)
    assert parse_hl7_datetime("202011191015") == paris(2020, 11, 19, 10, 15)
    winter = parse_hl7_datetime("20201119101530.25")
    assert winter == datetime(2020, 11, 19, 10, 15, 30, 250000, tzinfo=PARIS)
    assert winter is not None and winter.utcoffset() == timedelta(hours=1)
    summer = parse_hl7_datetime("20200704120000")
    assert summer is not None and summer.astimezone(UTC).hour == 10  # CEST, +02:00
    offset = parse_hl7_datetime("20201119101500-0500")
    assert offset == datetime(2020, 11, 19, 15, 15, tzinfo=UTC)
    assert parse_hl7_datetime("2020+0000") == datetime(2020, 1, 1, tzinfo=UTC)
    for bad in ("2020-11-19", "20201319", "20201119T10", "19", "20201119+2500", "abcd"):
        with pytest.raises(ValueError):
            parse_hl7_datetime(bad)


def test_malformed_date_is_an_error_naming_the_field() -> None:
    with pytest.raises(HL7FieldError) as caught:
        mapped(PID, OBR, obx(), obx(f14="2020-11-19"))
    error = caught.value
    assert (error.segment, error.occurrence, error.field_number) == ("OBX", 2, 14)
    assert error.where is not None and error.where.startswith("OBX[2]-14")
    head = MSH.format(type="ORU^R01^ORU_R01")
    assert error.position == len("\r".join([head, PID, OBR, obx(), ""]).encode())


def test_unreadable_message_time_is_forgiven_with_a_warning() -> None:
    data = (MSH.format(type="ORU^R01").replace("20201119101500", "hier") + "\r" + PID + "\r"
            + "OBX|1|ST|X^PCR^L||POSITIF||||||F\r").encode()
    m = map_message(parse(data), adapter="test")
    assert m.events and "MSH[1]-7" in m.warnings[0]


# --- diagnoses --------------------------------------------------------------------------------


def test_dg1_types_and_missing_codes() -> None:
    m = mapped(PID, "DG1|1||U07.1^COVID-19^I10||20201119|A",
               "DG1|2||840539006^COVID-19^SNOMED-CT||20201119",
               "DG1|3||||20201119|F", "DG1|4||^^^U07.2^suspect^I10||20201119|X",
               type_="ADT^A08^ADT_A01")
    first, second, fourth = m.events[0].evidence
    assert isinstance(first, DiagnosisEvidence) and first.status == "admitting"
    assert isinstance(second, DiagnosisEvidence)
    assert (second.code.system, second.status) == ("SCT", "working")
    assert isinstance(fourth, DiagnosisEvidence)
    assert (fourth.code.code, fourth.status, fourth.source_ref) == ("U07.2", "working", "DG1[4]")
    assert m.warnings == [
        "DG1[2]-6: diagnosis type '' is not A/W/F, read as working",
        "DG1[3]: no diagnosis code nor text in DG1-3, skipped",
        "DG1[4]-6: diagnosis type 'X' is not A/W/F, read as working",
    ]


# --- patient, practitioner, source ------------------------------------------------------------


def test_ins_by_type_without_oid_and_host_id_fallback() -> None:
    # typed INS without an OID: its key is checked like any INS (13 digits: no key, refused)
    event = mapped("PID|||1234567890123^^^^INS~LOCAL-7^^^CAB^MR||X^Y||1980|U",
                   obx()).events[0]
    assert (event.patient.ins, event.patient.ins_oid) == (None, None)
    assert event.patient.host_patient_id == "LOCAL-7"  # no PI: the first usable repetition
    assert event.patient.birth_date is None  # year only: not a birth date
    assert event.patient.sex == "U"
    valid = mapped("PID|||280013306312376^^^^INS~LOCAL-7^^^CAB^MR||X^Y||1980|U",
                   obx()).events[0]
    assert (valid.patient.ins, valid.patient.ins_oid) == ("280013306312376", None)
    assert valid.patient.host_patient_id == "280013306312376"


def test_legal_name_repetition_is_preferred() -> None:
    event = mapped("PID|||DOS-1^^^CAB^PI||MARTIN^ANNE^^^^^D~DURAND^ANNE^^^^^L||19800115|O",
                   obx()).events[0]
    assert (event.patient.family_name, event.patient.sex) == ("DURAND", "U")


def test_patient_without_identifier_is_an_error() -> None:
    with pytest.raises(HL7FieldError, match="PID-3"):
        mapped("PID|||||DUPONT", obx())


@pytest.mark.parametrize(
    ("segments", "national_id"),
    [
        (("PV1|1|O|||||10003456789^DURAND^CLAIRE",), "810003456789"),
        (("PV1|1|O|||||810003456789^DURAND^CLAIRE",), "810003456789"),
        (("PV1|1|O|||||123456789^DURAND^CLAIRE^^^^^^ADELI",), "0123456789"),
        (("PV1|1|O|||||123456789^DURAND^CLAIRE^^^^^^^^^^ADELI",), "0123456789"),
        (("PV1|1|O|||||LOC42^DURAND", seg("OBR", {1: "1", 16: "10003456789^LEROY^PAUL"})),
         "810003456789"),
        (("PV1|1|O|||||LOC42^DURAND~10003456789^LEROY",), "810003456789"),
        ((seg("ORC", {1: "RE", 12: "10003456789^LEROY"}),), "810003456789"),
        (("PV1|1|O|||||123456789^DURAND",), None),  # 9 digits, not said to be ADELI
        ((seg("OBR", {1: "1", 16: "^DURAND^CLAIRE"}),), None),
    ],
)
def test_practitioner(segments: tuple[str, ...], national_id: str | None) -> None:
    event = mapped(PID, *segments, obx()).events[0]
    found = event.practitioner.national_id if event.practitioner else None
    assert found == national_id


def test_sender_falls_back_to_msh3_and_is_required() -> None:
    data = ("MSH|^~\\&|APP-7||LGC|CAB|20201119||ORU^R01|X1|P|2.5\r" + PID
            + "\rOBX|1|ST|X^PCR^L||P||||||F\r").encode()
    assert map_message(parse(data), adapter="t").events[0].source.host == "APP-7"
    with pytest.raises(HL7FieldError, match="MSH-4"):
        map_message(parse(data.replace(b"APP-7", b"")), adapter="t")


def test_without_message_id_the_content_hash_identifies() -> None:
    data = ("MSH|^~\\&|APP|FAC|LGC|CAB|20201119||ORU^R01||P|2.5\r" + PID
            + "\rOBX|1|ST|X^PCR^L||P||||||F\r").encode()
    [event] = map_message(parse(data), adapter="t").events
    assert event.source.message_id is None
    assert event.source.content_hash == content_hash(data)


def test_unsupported_types_and_messages_without_evidence() -> None:
    with pytest.raises(UnsupportedMessageType, match="SIU\\^S12"):
        mapped(PID, type_="SIU^S12")
    with pytest.raises(UnsupportedMessageType):
        mapped(PID, type_="ACK^R01")
    m = mapped(PID, "PV1|1|O", type_="ADT^A31^ADT_A05")
    assert (m.events, m.message_type) == ([], "ADT^A31")


def test_unrelated_results_still_map() -> None:
    result = lab("OBX|1|NM|2345-7^Glucose^LN||5.4|mmol/L|3.9-6.1|N|||F")
    assert (result.test.code, result.value_numeric, result.unit) == ("2345-7", 5.4, "mmol/L")


def test_segments_out_of_place_and_obx_without_code_are_skipped_with_warnings() -> None:
    m = mapped("OBX|1|ST|X^PCR^L||early||||||F", PID, OBR, "OBX|2|ST|||POSITIF||||||F",
               "NTE|1||commentaire", "OBX|3|ST|X^PCR^L||POSITIF||||||F")
    [result] = m.events[0].evidence
    assert result.source_ref == "OBX[3]"
    assert m.warnings == ["OBX[1] comes before any PID, skipped",
                          "OBX[2]: no test code in OBX-3, skipped"]


def test_model_limits_become_hl7_errors() -> None:
    with pytest.raises(HL7ParseError, match="OBX\\[1\\]"):
        lab("OBX|1|ST|" + "X" * 300 + "^PCR^L||POSITIF||||||F")
