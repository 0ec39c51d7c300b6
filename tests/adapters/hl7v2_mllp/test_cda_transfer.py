"""The ANS CI-SIS profile "Transmission de documents CDA en HL7v2" over real MLLP sockets: a
CR-BIO CDA arrives Base64-encoded in an ORU's (or MDM's) ED OBX, becomes a request, and the
code goes back as an MDM^T02 carrying the core's CDA note — the document the MSSanté adapter
sends — checked with the same structural rules."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from prostop_hl7v2_mllp.server import MLLPService
from prostop_hl7v2_mllp.settings import load_mllp_settings, parse_mllp_settings
from prostop_plugin import build_record_note
from prostop_plugin.app import Prostop
from prostop_plugin.documents import cda_note_problems
from prostop_plugin.errors import ConfigError
from prostop_plugin.hl7.cda import NS, hardened_parser
from prostop_plugin.hl7.er7 import Message, MessageBuilder, parse
from prostop_plugin.hl7.send import AckReply, MLLPClient
from prostop_plugin.models import IssuanceRecord, IssuanceState
from prostop_plugin.simulator import RunningSimulator
from tests.adapters.hl7v2_mllp.conftest import mllp_section
from tests.adapters.hl7v2_mllp.helpers import fake_ehr
from tests.adapters.hl7v2_mllp.test_writeback import approval, code_of, open_runtime
from tests.corpus_location import CORPUS

pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is not laid out")
S = IssuanceState
CRBIO = CORPUS / "cda_crbio_positive.xml"
INS = "280013306312376"  # the corpus patient, under the test INS OID (1.2.250.1.213.1.4.10)
TEST_INS_AUTHORITY = "ASIP-SANTE-INS-NIR-TEST&1.2.250.1.213.1.4.10&ISO"


def document_message(
    document: bytes, *, control_id: str = "CRBIO-0001", message_type: str = "ORU^R01",
    pid3: list[tuple[str, str, str]] | None = None, pid32: str = "VALI",
    data: str | None = None, encoding: str = "Base64",
) -> bytes:
    """A message as a lab's interface engine sends it under the CI-SIS profile."""
    kind, trigger = message_type.split("^")
    mdm = kind == "MDM"
    builder = MessageBuilder()
    msh = builder.add("MSH").set(3, "SIL-BIO").set(4, "LABO-GARONNE").set(5, "PFI")
    msh.set(6, "CABINET-DURAND").set(7, "20201119103000").set("9.1", kind).set("9.2", trigger)
    msh.set("9.3", "MDM_T02" if mdm else "ORU_R01").set(10, control_id).set(11, "P")
    msh.set(12, "2.6" if mdm else "2.5").set(15, "AL").set(16, "NE").set(17, "FRA")
    msh.set("21.1", "2.1").set("21.2", "CISIS_CDA_HL7_V2")
    if mdm:
        builder.add("EVN").set(2, "20201119103000")
    pid = builder.add("PID").set(1, "1")
    for number, (ident, authority, kind_code) in enumerate(
            pid3 if pid3 is not None else [(INS, TEST_INS_AUTHORITY, "INS")], start=1):
        namespace, oid, _ = [*authority.split("&"), "", ""][:3]
        pid.set(f"3({number}).1", ident).set(f"3({number}).4.1", namespace)
        pid.set(f"3({number}).4.2", oid).set(f"3({number}).4.3", "ISO" if oid else "")
        pid.set(f"3({number}).5", kind_code)
    pid.set("5.1", "DUPONT").set("5.2", "CAMILLE").set("5.7", "L").set(7, "19800115")
    pid.set(8, "F").set(32, pid32)
    builder.add("PV1").set(1, "1").set(2, "N")
    builder.add("ORC").set(1, "NW")
    builder.add("OBR").set(1, "1").set("4.1", "11502-2").set("4.3", "LN")
    if mdm:
        builder.add("TXA").set(1, "1").set(2, "11502-2").set(3, "TEXT").set(12, "1.2.3.4")
        builder.segments[-1].set(17, "AU")
    obx = builder.add("OBX").set(1, "1").set(2, "ED").set("3.1", "11502-2").set("3.3", "LN")
    obx.set("5.2", "text" if mdm else "TEXT").set("5.3", "XML").set("5.4", encoding)
    obx.set("5.5", data if data is not None else base64.b64encode(document).decode("ascii"))
    obx.set(11, "F")
    meta = builder.add("OBX").set(1, "2").set(2, "CWE" if mdm else "CE")
    meta.set("3.1", "DESTDMP").set("3.3", "MetaDMPMSS").set("5.1", "N").set(11, "F")
    return builder.to_bytes()


def send(service: MLLPService, message: bytes) -> AckReply:
    with MLLPClient("127.0.0.1", service.port, connect_timeout=2.0) as client:
        return client.exchange(message, parse(message).control_id, timeout=10.0)


@pytest.fixture
def crbio() -> bytes:
    return CRBIO.read_bytes()


@pytest.fixture
def started(listener: MLLPService) -> MLLPService:
    """The runtime's listener, started (conftest)."""
    return listener


def send_once(runtime: Prostop, message: bytes) -> AckReply:
    """``message`` through a listener started for it, stopped after the ACK."""
    service = MLLPService(runtime, load_mllp_settings(runtime.settings))
    service.start()
    try:
        return send(service, message)
    finally:
        service.stop()


def records(runtime: Prostop) -> list[IssuanceRecord]:
    return [runtime.ledger.get(s.id) for s in runtime.ledger.summaries()]


# --- in: a CR-BIO in an ED OBX --------------------------------------------------------------


def test_an_oru_carrying_a_positive_crbio_becomes_a_confirmed_case(
    runtime: Prostop, started: MLLPService, crbio: bytes
) -> None:
    reply = send(started, document_message(crbio))
    assert (reply.code, reply.control_id) == ("CA", "CRBIO-0001"), reply.text
    [record] = records(runtime)
    assert record.state == S.AWAITING_CONFIRMATION
    assert record.decision is not None and record.decision.decision == "confirmed"
    event = record.event
    assert (event.source.adapter, event.source.format) == ("hl7v2_mllp", "cda")
    assert event.source.message_id == "1.2.250.1.999.1.1^CRBIO-2020-7710050"
    assert (event.patient.ins, event.patient.ins_oid) == (INS, "1.2.250.1.213.1.4.10")

    again = send(started, document_message(crbio, control_id="CRBIO-0002"))
    assert again.code == "CA"
    assert runtime.ledger.event_count() == 1, "the same document again is the same event"


def test_an_mdm_t02_carrying_the_crbio_is_read_too(
    runtime: Prostop, started: MLLPService, crbio: bytes
) -> None:
    reply = send(started, document_message(crbio, message_type="MDM^T02"))
    assert reply.code == "CA", reply.text
    assert [r.decision.decision for r in records(runtime) if r.decision] == ["confirmed"]


@pytest.mark.parametrize(("data", "reason"), [
    ("PD94bWwg!!!!dmVyc2lvbj0", "not valid Base64"),
    ("PD94bWwgdmVyc2lvbj0iMS4wIj8+P", "not valid Base64"),  # truncated: bad padding
    ("", "holds no data"),
])
def test_bad_base64_gets_AE_naming_OBX_5_and_nothing_is_stored(
    runtime: Prostop, started: MLLPService, crbio: bytes, data: str, reason: str
) -> None:
    reply = send(started, document_message(crbio, data=data))
    assert reply.code == "CE" and reason in reply.text, reply.text
    ack = parse(reply.raw)
    assert (ack["ERR-2.1"], ack["ERR-2.2"], ack["ERR-2.3"], ack["ERR-3.1"]) == (
        "OBX", "1", "5", "102")
    assert runtime.ledger.event_count() == 0


def test_a_document_not_base64_or_not_a_cda_gets_AE(
    runtime: Prostop, started: MLLPService, crbio: bytes
) -> None:
    hex_encoded = send(started, document_message(crbio, encoding="Hex", data=crbio.hex()))
    assert hex_encoded.code == "CE" and "not Base64" in hex_encoded.text
    bomb = (b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaa">]>'
            b'<ClinicalDocument xmlns="urn:hl7-org:v3">&a;</ClinicalDocument>')
    entities = send(started, document_message(bomb, control_id="BOMB-1"))
    assert entities.code == "CE" and "DOCTYPE" in entities.text, entities.text
    assert "OBX[1]-5" in entities.text
    not_cda = send(started, document_message(b"<html><body>x</body></html>", control_id="H-1"))
    assert not_cda.code == "CE" and "not a CDA document" in not_cda.text
    assert runtime.ledger.event_count() == 0


@pytest.mark.parametrize("section", [mllp_section(max_document_bytes=2048)])
def test_a_document_over_the_limit_is_refused_before_it_is_decoded(
    runtime: Prostop, started: MLLPService, crbio: bytes
) -> None:
    assert len(crbio) > 2048
    reply = send(started, document_message(crbio))
    assert reply.code == "CE" and "over the 2048-byte limit; not decoded" in reply.text
    assert runtime.ledger.event_count() == 0


def test_pid_must_agree_with_the_document(
    runtime: Prostop, started: MLLPService, crbio: bytes
) -> None:
    other = "180017510112383"  # another patient's NIR, its key right
    mismatch = send(started, document_message(
        crbio, pid3=[(other, TEST_INS_AUTHORITY, "INS")], control_id="MISMATCH-1"))
    assert mismatch.code == "CE" and "different patients" in mismatch.text, mismatch.text
    assert parse(mismatch.raw)["ERR-2.3"] == "3"

    no_ins = crbio.replace(b'root="1.2.250.1.213.1.4.10"', b'root="1.2.250.1.999.2"')
    claimed = send(started, document_message(no_ins, control_id="VALI-1"))
    assert claimed.code == "CE" and "qualified (VALI)" in claimed.text
    assert parse(claimed.raw)["ERR-2.3"] == "32"
    assert runtime.ledger.event_count() == 0

    provisional = send(started, document_message(crbio, pid32="PROV", control_id="PROV-1"))
    assert provisional.code == "CA"
    [record] = records(runtime)
    assert record.event.patient.ins == INS and record.event.patient.ins_oid is None, \
        "an identity the sender calls provisional is not asserted as a qualified INS"


# --- out: the CDA note in an MDM^T02 --------------------------------------------------------


def obx_document(message: Message) -> bytes:
    obx = message.segment("OBX")
    assert obx is not None and obx[2] == "ED"
    assert (obx["5.3"], obx["5.4"]) == ("XML", "Base64")
    return base64.b64decode(obx["5.5"], validate=True)


def test_the_code_goes_back_as_an_mdm_t02_carrying_the_cda_note(
    tmp_path: Path, simulator: RunningSimulator, crbio: bytes
) -> None:
    with fake_ehr() as ehr, open_runtime(
        tmp_path, simulator, peer=ehr.address, write_back_document="cda",
    ) as runtime:
        assert send_once(runtime, document_message(crbio)).code == "CA"
        [pending] = runtime.engine.pending()
        done = runtime.engine.decide(pending.issuance_id, approval())
        assert done.state == S.WRITTEN_BACK, done.error
        code = code_of(runtime, done)
        expected = build_record_note(runtime.ledger.get(done.id, with_code=True)).data

    [raw] = ehr.received
    message = parse(raw)
    assert message.message_type == "MDM^T02" and message["MSH-9.3"] == "MDM_T02"
    assert (message["MSH-12"], message["MSH-21.1"], message["MSH-21.2"]) == (
        "2.6", "2.1", "CISIS_CDA_HL7_V2")
    assert message.control_id == f"PROSTOP-{done.id}"
    assert [s.name for s in message.segments()][:8] == [
        "MSH", "EVN", "PID", "PV1", "ORC", "OBR", "TXA", "OBX"]
    document = obx_document(message)
    assert cda_note_problems(document) == []
    assert document == expected, "the same document as the MSSanté adapter's (build_record_note)"
    assert code in document.decode("utf-8")
    assert code not in raw.decode("utf-8"), "the code travels inside the document only"
    root = etree.fromstring(document, parser=hardened_parser())
    doc_id = root.xpath("string(/hl7:ClinicalDocument/hl7:id/@root)", namespaces=NS)
    assert message["TXA-12.1"] == doc_id and message["TXA-17"] == "AU"
    assert message["TXA-2"] == message["OBR-4.1"] == message["OBX-3.1"] == "34109-9"
    assert message["OBX-5.2"] == "text" and message["OBX-11"] == "F"
    assert (message["PID-3.1"], message["PID-3.4"], message["PID-3.5"]) == (
        INS, "ASIP-SANTE-INS-NIR-TEST", "INS")
    assert message["PID-3.4.2"] == "1.2.250.1.213.1.4.10" and message["PID-32"] == "VALI"
    assert message["PID-5.1"] == "DUPONT" and message["PID-7"] == "19800115"
    metadata = [s["3.1"] for s in message.segments("OBX")[1:]]
    assert metadata[:3] == ["MASQUE_PS", "INVISIBLE_PATIENT", "INVISIBLE_REP_LEGAUX"]
    assert "DESTDMP" in metadata and {s["5.1"] for s in message.segments("OBX")[1:]} == {"N"}
    assert done.receipts[-1].detail is not None and "MDM^T02 (CDA R2)" in done.receipts[-1].detail


def test_an_oru_r01_can_carry_the_cda_note_instead(
    tmp_path: Path, simulator: RunningSimulator, crbio: bytes
) -> None:
    with fake_ehr() as ehr, open_runtime(
        tmp_path, simulator, peer=ehr.address, write_back_document="cda",
        write_back_message_type="ORU^R01", write_back_charset="8859/15",
    ) as runtime:
        assert send_once(runtime, document_message(crbio)).code == "CA"
        [pending] = runtime.engine.pending()
        assert runtime.engine.decide(pending.issuance_id, approval()).state == S.WRITTEN_BACK
    message = parse(ehr.received[0])
    assert (message.message_type, message["MSH-12"], message["MSH-18"]) == (
        "ORU^R01", "2.5", "8859/15")
    assert message.segment("TXA") is None and message["OBX-5.2"] == "TEXT"
    assert cda_note_problems(obx_document(message)) == []


def test_settings_of_the_cda_write_back() -> None:
    assert parse_mllp_settings({}).write_back_type == "ORU^R01"
    assert parse_mllp_settings({"write_back_document": "cda"}).write_back_type == "MDM^T02"
    explicit: dict[str, Any] = {"write_back_document": "cda",
                                "write_back_message_type": "ORU^R01"}
    assert parse_mllp_settings(explicit).write_back_type == "ORU^R01"
    with pytest.raises(ConfigError, match="write_back_value_type is for"):
        parse_mllp_settings({"write_back_document": "cda", "write_back_value_type": "FT"})
    with pytest.raises(ConfigError, match="write_back_document"):
        parse_mllp_settings({"write_back_document": "pdf"})
