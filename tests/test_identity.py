"""Patient identity is read the same way whatever the format: the INS key is checked in HL7 v2,
CDA and HPRIM alike, and an INS whose key is wrong or missing is never used."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from prostop_plugin.hl7.cda import read_cda
from prostop_plugin.hl7.er7 import parse
from prostop_plugin.hl7.mapping import HL7FieldError, MappedMessage, map_message
from prostop_plugin.hprim import read_hprim
from prostop_plugin.identity import INS_OIDS, RPPS, checked_ins, masked, parse_nir
from prostop_plugin.models import PatientRef

NIR_OID, NIA_OID, TEST_OID = "1.2.250.1.213.1.4.8", "1.2.250.1.213.1.4.9", "1.2.250.1.213.1.4.10"
VALID = "280013306312376"  # the shared corpus's INS
WRONG_KEY = "280013306312377"
CORSICA_2A, CORSICA_2B = "269052A12345688", "170122B98765409"
#: a NIA (born abroad: department 99, country 350), "constituted like a NIR", key 10
NIA = "185099935001210"

MSH = "MSH|^~\\&|LAB|LABO-X|LGC|CAB|20201119101500||ORU^R01^ORU_R01|MID-1|P|2.5"
OBX = "OBX|1|ST|94500-6^PCR^LN||POSITIF||||||F"


def hl7(pid3: str) -> MappedMessage:
    data = "\r".join([MSH, f"PID|||{pid3}||DUPONT^CAMILLE||19800115|F", OBX]).encode() + b"\r"
    return map_message(parse(data), adapter="test", raw=data)


def ins_rep(value: str, oid: str = NIR_OID) -> str:
    return f"{value}^^^ASIP-SANTE-INS-NIR&{oid}&ISO^INS"


# --- the key rule -----------------------------------------------------------------------------


def test_key_rule_nir_nia_and_corsica() -> None:
    assert checked_ins(VALID) == VALID
    assert checked_ins(WRONG_KEY) is None
    assert checked_ins(VALID[:13]) is None  # no key: not an INS
    assert checked_ins("2 80 01 33 063 123 76") == VALID  # written with spaces: normalised
    assert checked_ins(CORSICA_2A) == CORSICA_2A and checked_ins(CORSICA_2B) == CORSICA_2B
    assert checked_ins("269052a12345688") == CORSICA_2A
    assert checked_ins("170122B98765410") is None
    assert checked_ins(NIA) == NIA and checked_ins(NIA[:13] + "11") is None
    assert checked_ins("LOCAL-7") is None and checked_ins(None) is None
    nir = parse_nir(VALID)
    assert nir is not None and nir.key_ok and nir.sex == "F"
    assert frozenset({NIR_OID, NIA_OID, TEST_OID}) == INS_OIDS
    assert (m := RPPS.match("810003456789")) is not None and m[1] == "10003456789"


# --- HL7 v2 mapping ---------------------------------------------------------------------------


@pytest.mark.parametrize("value, oid", [
    (VALID, TEST_OID), (VALID, NIR_OID), ("167032432204539", NIR_OID),
    (CORSICA_2A, NIR_OID), (CORSICA_2B, NIR_OID), (NIA, NIA_OID),
])
def test_hl7_valid_ins_is_kept(value: str, oid: str) -> None:
    m = hl7(f"{ins_rep(value, oid)}~DOS-1^^^CAB^PI")
    [event] = m.events
    assert (event.patient.ins, event.patient.ins_oid) == (value, oid)
    assert event.patient.host_patient_id == "DOS-1"
    assert m.warnings == []


@pytest.mark.parametrize("value, oid", [
    (WRONG_KEY, NIR_OID), (WRONG_KEY, TEST_OID), (VALID[:13], NIR_OID),
    ("170122B98765410", NIR_OID), (NIA[:13] + "11", NIA_OID), ("LOCAL-7", NIR_OID),
])
def test_hl7_ins_with_a_wrong_or_missing_key_is_dropped_with_a_warning(
    value: str, oid: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="prostop_plugin.hl7.mapping"):
        m = hl7(f"{ins_rep(value, oid)}~DOS-1^^^CAB^PI")
    [event] = m.events
    assert (event.patient.ins, event.patient.ins_oid) == (None, None)
    assert event.patient.host_patient_id == "DOS-1"
    warning = f"PID[1]-3: INS {masked(value)} has a wrong or missing key; not used as the INS"
    assert m.warnings == [warning]
    assert f"HL7 MSH-10 'MID-1', {warning}" in caplog.text


def test_hl7_dropped_ins_is_not_the_host_id_either() -> None:
    m = hl7(f"{ins_rep(WRONG_KEY)}~LOCAL-7^^^CAB^MR")
    [event] = m.events
    assert (event.patient.ins, event.patient.host_patient_id) == (None, "LOCAL-7")


def test_hl7_a_later_valid_ins_is_used_after_a_dropped_one() -> None:
    m = hl7(f"{ins_rep(WRONG_KEY)}~{ins_rep(VALID, TEST_OID)}~DOS-1^^^CAB^PI")
    [event] = m.events
    assert (event.patient.ins, event.patient.ins_oid) == (VALID, TEST_OID)
    assert len(m.warnings) == 1


def test_hl7_dropped_ins_as_the_only_identifier_is_an_error() -> None:
    with pytest.raises(HL7FieldError, match="no usable patient identifier") as info:
        hl7(ins_rep(WRONG_KEY))
    assert (info.value.segment, info.value.field_number) == ("PID", 3)


def test_hl7_ins_written_with_spaces_is_normalised() -> None:
    [event] = hl7(f"{ins_rep('2 80 01 33 063 123 76')}~DOS-1^^^CAB^PI").events
    assert event.patient.ins == VALID


def test_hl7_ins_typed_without_an_ins_oid_is_key_checked_too() -> None:
    # no assigning authority: no ins_oid, but the key is checked like any INS, because the
    # INS links a patient's episodes across senders
    [event] = hl7("1234567890123^^^^INS~DOS-1^^^CAB^PI").events
    assert (event.patient.ins, event.patient.ins_oid) == (None, None)
    assert event.patient.host_patient_id == "DOS-1"
    [event] = hl7(f"{VALID}^^^^INS~DOS-1^^^CAB^PI").events
    assert (event.patient.ins, event.patient.ins_oid) == (VALID, None)


# --- the same identity whatever the format ----------------------------------------------------


def _from_hl7(ins: str) -> PatientRef:
    [event] = hl7(f"{ins_rep(ins)}~DOS-1^^^CAB^PI").events
    return event.patient


def _from_cda(ins: str) -> PatientRef:
    data = (
        '<ClinicalDocument xmlns="urn:hl7-org:v3"><id root="1.2.9"/><recordTarget><patientRole>'
        f'<id root="{NIR_OID}" extension="{ins}"/><id root="1.2.3" extension="DOS-1"/>'
        "<patient/></patientRole></recordTarget><component><structuredBody><component><section>"
        '<entry><observation classCode="OBS" moodCode="EVN"><code code="94500-6" '
        'codeSystem="2.16.840.1.113883.6.1"/><statusCode code="completed"/>'
        '<value xsi:type="ST" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">POSITIF'
        "</value></observation></entry></section></component></structuredBody></component>"
        "</ClinicalDocument>"
    ).encode()
    [event] = read_cda(data, "test.xml", "test")
    return event.patient


def _from_hprim(ins: str) -> PatientRef:
    header = ["", "DUPONT", "CAMILLE", "", "", "", "15/01/1980", ins, "DOS-1", "19/11/2020",
              "LG01 LABO", ""]
    lines = [*header, "****LAB****", "RES|PCR SARS-CoV-2|94500-6|A|POSITIF||||A|F",
             "****FIN****"]
    [event] = read_hprim("\r\n".join(lines).encode(), "test.hpr", "test")
    return event.patient


@pytest.mark.parametrize("read", [_from_hl7, _from_cda, _from_hprim],
                         ids=["hl7v2", "cda", "hprim"])
@pytest.mark.parametrize("ins, expected", [
    (VALID, VALID), (CORSICA_2A, CORSICA_2A), (WRONG_KEY, None), (VALID[:13], None),
])
def test_every_format_checks_the_ins_key_the_same_way(
    read: Callable[[str], PatientRef], ins: str, expected: str | None
) -> None:
    patient = read(ins)
    assert patient.ins == expected
    if expected is None:  # the host's own identifier identifies the patient
        assert patient.host_patient_id == "DOS-1"
