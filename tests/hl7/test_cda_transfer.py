"""The CI-SIS "Transmission de documents CDA en HL7v2" toolkit: the message built around a CDA
document (PID from the document, INS only when qualified, PID-32), and the documents read back
out of ED OBX values, with their limits."""

from __future__ import annotations

import base64
from datetime import UTC, date, datetime

import pytest

from prostop_plugin.documents import build_cda_note, cda_note_problems
from prostop_plugin.errors import InputError
from prostop_plugin.hl7.cda_transfer import (
    METADATA,
    build_cda_transfer,
    embedded_documents,
    map_cda_transfer,
)
from prostop_plugin.hl7.er7 import MessageBuilder, parse
from prostop_plugin.hl7.mapping import HL7FieldError, UnsupportedMessageType
from prostop_plugin.hl7.outgoing import WriteBackHeader
from prostop_plugin.models import PatientRef, Practitioner

NOW = datetime(2020, 11, 19, 14, 32, tzinfo=UTC)
DOCTOR = Practitioner(national_id="10003456789", family_name="DURAND", given_name="Claire")
QUALIFIED = PatientRef(host_patient_id="DOS-4411", ins="280013306312376",
                       ins_oid="1.2.250.1.213.1.4.8", family_name="DUPONT", given_name="Camille",
                       birth_date=date(1980, 1, 15), sex="F")


def note(patient: PatientRef = QUALIFIED, document_id: str = "2.25.1234") -> bytes:
    return build_cda_note(patient=patient, note_lines=["Code : 7H3K9Q"], title="Déclaration",
                          author=DOCTOR, document_id=document_id, effective_time=NOW)


def test_mdm_t02_carries_the_document_with_a_qualified_ins_in_pid() -> None:
    document = note()
    message = parse(build_cda_transfer(document, control_id="WB-1", now=NOW))
    assert message.message_type == "MDM^T02" and message["MSH-12"] == "2.6"
    assert message["MSH-21"] == "2.1" and message["MSH-21.2"] == "CISIS_CDA_HL7_V2"
    pid = message.segment("PID")
    assert pid is not None
    ids = [(r[1], r.get(4, 1), r.get(4, 2), r.get(4, 3), r[5]) for r in pid.repetitions(3)]
    assert ids[0][0] == "DOS-4411" and ids[0][4] == "PI"
    assert ids[1] == ("280013306312376", "ASIP-SANTE-INS-NIR", "1.2.250.1.213.1.4.8", "ISO",
                      "INS")
    assert pid.value(32) == "VALI"
    assert (message["PID-5.1"], message["PID-5.2"], message["PID-7"], message["PID-8"]) == (
        "DUPONT", "Camille", "19800115", "F")
    assert message["PV1-2"] == "N" and message["ORC-1"] == "NW"
    assert (message["TXA-2"], message["TXA-3"], message["TXA-12"], message["TXA-17"]) == (
        "34109-9", "TEXT", "2.25.1234", "AU")
    assert (message["OBX-2"], message["OBX-3.1"], message["OBX-3.3"]) == ("ED", "34109-9", "LN")
    assert (message["OBX-5.2"], message["OBX-5.3"], message["OBX-5.4"]) == (
        "text", "XML", "Base64")
    decoded = base64.b64decode(message["OBX-5.5"], validate=True)
    assert decoded == document and cda_note_problems(decoded) == []
    metadata = message.segments("OBX")[1:]
    assert [s["3.1"] for s in metadata] == [name for name, _ in METADATA]
    assert {(s[2], s["3.3"], s["5.1"], s["5.3"], s[11]) for s in metadata} == {
        ("CWE", "MetaDMPMSS", "N", "expandedYes-NoIndicator", "F")}


def test_an_identity_not_qualified_is_sent_without_the_ins_as_provisional() -> None:
    carried = QUALIFIED.model_copy(update={"ins_oid": None})  # a NIR from an HPRIM file
    message = parse(build_cda_transfer(note(carried), now=NOW))
    pid = message.segment("PID")
    assert pid is not None and pid.value(32) == "PROV"
    assert "INS" not in [r[5] for r in pid.repetitions(3)]
    assert "ASIP-SANTE-INS" not in pid.text


def test_oru_r01_layout_and_a_document_id_with_an_extension() -> None:
    message = parse(build_cda_transfer(note(document_id="CR-42"), message_type="ORU^R01",
                                       header=WriteBackHeader(charset="8859/15"), now=NOW))
    assert (message.message_type, message["MSH-12"], message["MSH-18"]) == (
        "ORU^R01", "2.5", "8859/15")
    assert message.segment("TXA") is None and message.segment("EVN") is None
    assert message["OBX-5.2"] == "TEXT" and message["OBX-2"] == "ED"
    assert {s[2] for s in message.segments("OBX")[1:]} == {"CE"}
    assert message["OBR-4.1"] == message["OBX-3.1"] == "34109-9"


def test_the_same_arguments_give_the_same_bytes() -> None:
    document = note()
    assert build_cda_transfer(document, control_id="WB-1", now=NOW) == build_cda_transfer(
        document, control_id="WB-1", now=NOW)


def test_what_cannot_be_sent_is_a_clear_error() -> None:
    with pytest.raises(InputError, match="not a CDA document"):
        build_cda_transfer(b"<html/>")
    greek = QUALIFIED.model_copy(update={"family_name": "ΠΑΠΑΔΟΠΟΥΛΟΣ"})
    with pytest.raises(InputError, match="cannot be written in 8859/1"):
        build_cda_transfer(note(greek), WriteBackHeader(charset="8859/1"))


def message_with(*obx: tuple[str, str], kind: str = "ORU^R01") -> bytes:
    builder = MessageBuilder()
    msh = builder.add("MSH").set(3, "LAB").set(4, "LABO").set(7, "20201119")
    msh.set("9.1", kind.split("^")[0]).set("9.2", kind.split("^")[1]).set(10, "M-1")
    msh.set(11, "P").set(12, "2.5")
    builder.add("PID").set("3.1", "DOS-1").set("3.5", "PI")
    for number, (value_type, value) in enumerate(obx, start=1):
        seg = builder.add("OBX").set(1, str(number)).set(2, value_type).set("3.1", "11502-2")
        for component, part in enumerate(value.split("^"), start=1):
            seg.set(f"5.{component}", part)
    return builder.to_bytes()


def test_documents_are_found_in_xml_ed_values_only() -> None:
    xml = base64.b64encode(note()).decode()
    pdf = base64.b64encode(b"%PDF-1.4").decode()
    message = parse(message_with(("ED", f"^application^PDF^Base64^{pdf}"),
                                 ("CE", "N^^expandedYes-NoIndicator"),
                                 ("ED", f"^TEXT^XML^Base64^{xml[:40]}\n{xml[40:]}")))
    [found] = embedded_documents(message)
    assert found.data == note() and found.where == "OBX[3]-5"
    assert embedded_documents(parse(message_with(("ED", f"^TEXT^^Base64^{pdf}")))) == []
    assert map_cda_transfer(parse(message_with(("TX", "texte"))), adapter="t") is None


def test_limits_on_embedded_documents() -> None:
    xml = base64.b64encode(note()).decode()
    three = parse(message_with(*[("ED", f"^TEXT^XML^Base64^{xml}")] * 3))
    with pytest.raises(HL7FieldError, match="more than 2 embedded documents") as many:
        embedded_documents(three)
    assert (many.value.segment, many.value.occurrence, many.value.field_number) == ("OBX", 3, 5)
    one = parse(message_with(("ED", f"^TEXT^XML^Base64^{xml}")))
    with pytest.raises(HL7FieldError, match="over the 100-byte limit; not decoded"):
        embedded_documents(one, max_bytes=100)
    with pytest.raises(HL7FieldError, match="not valid Base64"):
        embedded_documents(parse(message_with(("ED", "^TEXT^XML^Base64^abc$def"))))
    siu = parse(message_with(("ED", f"^TEXT^XML^Base64^{xml}"), kind="SIU^S12"))
    with pytest.raises(UnsupportedMessageType):
        map_cda_transfer(siu, adapter="t")
