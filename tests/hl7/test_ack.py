"""ACKs (original and enhanced mode, ERR) and the write-back messages (ORU^R01, MDM^T02)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from prostop_plugin.errors import HL7ParseError
from prostop_plugin.hl7.ack import (
    AckError,
    ack_code,
    ack_mode,
    build_ack,
    build_ack_for_unparsed,
    wants_ack,
)
from prostop_plugin.hl7.er7 import parse
from prostop_plugin.hl7.mapping import HL7FieldError, UnsupportedMessageType, map_message
from prostop_plugin.hl7.mllp import MLLPDecoder, encode_frame
from prostop_plugin.hl7.outgoing import WriteBackHeader, build_write_back
from prostop_plugin.models import LabResult, PatientRef, Practitioner

NOW = datetime(2020, 11, 19, 9, 30, tzinfo=UTC)
ORIGINAL_MODE = (
    b"MSH|^~\\&|KALISIL|LABO-DORDOGNE|LGC|CABINET-DURAND|20201118171000||ORU^R01|LD-1|T|2.3"
    b"||||||8859/1\rPID|||DOS-1^^^CAB^PI||MARTIN\r"
)
ENHANCED_MODE = (  # MSH-15 AL, MSH-16 NE, as the corpus's lab results
    b"MSH|^~\\&|SIL-BIO|LABO-GARONNE|LGC|CABINET-DURAND|20201119101500||ORU^R01^ORU_R01|"
    b"LG20201119-0001|P|2.5|||AL|NE|FRA|UNICODE UTF-8\r"
    b"PID|||280013306312376^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.10&ISO^INS~DOS-4411^^^"
    b"CABINET-DURAND^PI||DUPONT^CAMILLE^^^^^L||19800115|F\r"
    b"OBR|1||LAB-7710021|94531-1^SARS-CoV-2 RNA panel^LN|||20201118093000\r"
    b"OBX|1|CWE|94500-6^SARS-CoV-2 RNA^LN||10828004^positif^SCT|||A|||F|||20201119100500\r"
)


def test_original_mode_accept() -> None:
    original = parse(ORIGINAL_MODE)
    assert ack_mode(original) == "original"
    ack = parse(build_ack(original, control_id="ACK-1", now=NOW))
    assert ack.message_type == "ACK^R01"
    assert ack["MSH-9.3"] == "ACK"
    assert (ack["MSH-3"], ack["MSH-4"]) == ("LGC", "CABINET-DURAND")  # swapped
    assert (ack["MSH-5"], ack["MSH-6"]) == ("KALISIL", "LABO-DORDOGNE")
    assert ack["MSH-7"] == "20201119103000+0100"
    assert (ack["MSH-10"], ack["MSH-11"], ack["MSH-12"]) == ("ACK-1", "T", "2.3")
    assert (ack["MSH-15"], ack["MSH-16"]) == ("", "")
    assert ack.declared_charset == "8859/1" and ack.charset == "latin-1"
    assert (ack["MSA-1"], ack["MSA-2"]) == ("AA", "LD-1")
    assert ack.segments("ERR") == []


def test_enhanced_mode_codes() -> None:
    original = parse(ENHANCED_MODE)
    assert ack_mode(original) == "enhanced"
    assert [ack_code(original, o) for o in ("accept", "error", "reject")] == ["CA", "CE", "CR"]
    assert [ack_code(parse(ORIGINAL_MODE), o) for o in ("accept", "error", "reject")] == [
        "AA", "AE", "AR"]
    ack = parse(build_ack(original, AckError("base indisponible", outcome="reject")))
    assert (ack["MSA-1"], ack["MSA-2"]) == ("CR", "LG20201119-0001")
    assert ack.declared_charset == "UNICODE UTF-8"
    assert len(ack["MSH-10"]) == 20 and ack["MSH-10"] != original.control_id


@pytest.mark.parametrize(
    ("accept_type", "expected"),
    [("AL", (True, True)), ("NE", (False, False)), ("ER", (False, True)),
     ("SU", (True, False)), ("", (True, True))],
)
def test_wants_ack_in_enhanced_mode(accept_type: str, expected: tuple[bool, bool]) -> None:
    text = ENHANCED_MODE.replace(b"|AL|NE|", f"|{accept_type}|NE|".encode())
    original = parse(text)
    assert (wants_ack(original, "accept"), wants_ack(original, "error")) == expected
    assert wants_ack(parse(ORIGINAL_MODE), "accept")


def test_error_ack_carries_err_with_location_and_escaped_reason() -> None:
    data = ENHANCED_MODE.replace(b"20201119100500", b"19\\F\\11")
    original = parse(data)
    with pytest.raises(HL7FieldError) as caught:
        map_message(original, adapter="t")
    error = AckError.from_exception(caught.value)
    assert (error.code, error.outcome, error.segment, error.occurrence, error.field) == (
        "102", "error", "OBX", 1, 14)
    ack = parse(build_ack(original, error, now=NOW))
    assert ack["MSA-1"] == "CE"
    assert "'19|11'" in ack["MSA-3"]  # the reason, with a delimiter in it, survived
    assert (ack["ERR-2.1"], ack["ERR-2.2"], ack["ERR-2.3"]) == ("OBX", "1", "14")
    assert (ack["ERR-3.1"], ack["ERR-3.2"], ack["ERR-3.3"]) == (
        "102", "Data type error", "HL70357")
    assert ack["ERR-4"] == "E"
    assert ack["ERR-8"] == ack["MSA-3"]


def test_pre_25_versions_get_err1() -> None:
    original = parse(ORIGINAL_MODE)
    error = AckError("OBX-5 illisible", code="102", segment="OBX", occurrence=2, field=5)
    ack = parse(build_ack(original, error))
    assert ack["MSA-1"] == "AE"
    assert (ack["ERR-1.1"], ack["ERR-1.2"], ack["ERR-1.3"]) == ("OBX", "2", "5")
    assert (ack["ERR-1.4.1"], ack["ERR-1.4.3"]) == ("102", "HL70357")
    assert ack["ERR-2"] == ""


def test_ack_errors_from_exceptions() -> None:
    unsupported = AckError.from_exception(UnsupportedMessageType("SIU^S12 is not supported"))
    assert (unsupported.code, unsupported.outcome) == ("200", "reject")
    parse_error = AckError.from_exception(HL7ParseError("bad", position=3))
    assert (parse_error.code, parse_error.outcome) == ("102", "error")
    internal = AckError.from_exception(RuntimeError("database is locked /var/secret"))
    assert (internal.code, internal.outcome) == ("207", "reject")
    assert "secret" not in internal.text  # internals are not sent to the peer


def test_ack_in_latin1_replaces_what_latin1_cannot_hold() -> None:
    ack = build_ack(parse(ORIGINAL_MODE), AckError("coût: 5 € ^ trop"))
    assert parse(ack)["MSA-3"] == "coût: 5 ? ^ trop"


def test_ack_for_bytes_that_did_not_parse() -> None:
    broken = ORIGINAL_MODE + b"pid|oops\r"
    with pytest.raises(HL7ParseError) as caught:
        parse(broken)
    ack = parse(build_ack_for_unparsed(broken, AckError.from_exception(caught.value)))
    assert (ack["MSA-1"], ack["MSA-2"], ack["MSH-5"]) == ("AE", "LD-1", "KALISIL")
    garbage = parse(build_ack_for_unparsed(b"\x00\x01 not hl7", AckError("unreadable")))
    assert (garbage["MSA-1"], garbage["MSA-2"], garbage["MSH-3"]) == ("AE", "", "PROSTOP")
    assert garbage["ERR-3.1"] == "207"


# --- write-back -------------------------------------------------------------------------------

LINES = ["Code StopCovid remis : AB12CD (valable 1 h)", "Médecin : Dr Durand | RPPS^10003456789"]
PATIENT = PatientRef(host_patient_id="DOS-4411", ins="280013306312376",
                     ins_oid="1.2.250.1.213.1.4.10", family_name="DUPONT",
                     given_name="CAMILLE", birth_date=date(1980, 1, 15), sex="F")
DOCTOR = Practitioner(national_id="810003456789", family_name="DURAND", given_name="CLAIRE")


def test_write_back_oru_with_tx_lines_and_pid_from_the_source() -> None:
    source = parse(ENHANCED_MODE)
    header = WriteBackHeader(receiving_application="LGC", receiving_facility="CABINET-DURAND")
    data = build_write_back(PATIENT, LINES, header, source=source, practitioner=DOCTOR,
                            control_id="WB-1", now=NOW)
    m = parse(data)
    assert [s.name for s in m] == ["MSH", "PID", "OBR", "OBX"]
    assert (m.message_type, m["MSH-9.3"], m.control_id) == ("ORU^R01", "ORU_R01", "WB-1")
    assert (m["MSH-3"], m["MSH-5"], m["MSH-6"], m["MSH-17"]) == (
        "PROSTOP", "LGC", "CABINET-DURAND", "FRA")
    assert m.segments("PID")[0].tree(3) == source.segments("PID")[0].tree(3)
    assert (m["PID-5.1"], m["PID-7"], m["PID-8"]) == ("DUPONT", "19800115", "F")
    assert (m["OBX-2"], m["OBX-3.1"], m["OBX-3.3"], m["OBX-11"]) == ("TX", "48767-8", "LN", "F")
    assert [r.text() for r in m.segments("OBX")[0].repetitions(5)] == LINES
    assert (m["OBR-16.1"], m["OBR-16.9.2"], m["OBR-16.13"]) == (
        "10003456789", "1.2.250.1.71.4.2.1", "RPPS")
    note = map_message(m, adapter="t").events[0].evidence[0]
    assert isinstance(note, LabResult) and note.value_text == "\n".join(LINES)


def test_write_back_mdm_with_ft_and_pid_from_the_patient() -> None:
    data = build_write_back(PATIENT, LINES, message_type="MDM^T02", value_type="FT",
                            practitioner=DOCTOR, control_id="WB-2", now=NOW)
    m = parse(data)
    assert [s.name for s in m] == ["MSH", "EVN", "PID", "PV1", "TXA", "OBX"]
    assert m.message_type == "MDM^T02"
    assert (m["TXA-3"], m["TXA-12"], m["TXA-9.1"]) == ("FT", "WB-2", "10003456789")
    assert m["OBX-5"] == "\n".join(LINES)
    assert "\\.br\\" in data.decode()
    assert (m["PID-3(1).1"], m["PID-3(1).5"]) == ("DOS-4411", "PI")
    assert (m["PID-3(2).1"], m["PID-3(2).4.2"], m["PID-3(2).5"]) == (
        "280013306312376", "1.2.250.1.213.1.4.10", "INS")
    assert (m["PID-5.1"], m["PID-5.2"], m["PID-5.7"]) == ("DUPONT", "CAMILLE", "L")
    patient = PatientRef(host_patient_id="X1")
    minimal = parse(build_write_back(patient, ["ligne"]))
    assert (minimal["PID-3.1"], minimal["PID-3(2).1"], minimal["PID-5"]) == ("X1", "", "")


def test_write_back_resend_keeps_the_control_id_and_travels_over_mllp() -> None:
    first = build_write_back(PATIENT, LINES, control_id="WB-9", now=NOW)
    again = build_write_back(PATIENT, LINES, control_id="WB-9", now=NOW)
    assert first == again
    assert MLLPDecoder().feed(encode_frame(first)) == [first]
    with pytest.raises(ValueError):
        build_write_back(PATIENT, [])
