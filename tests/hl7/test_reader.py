"""Reading HL7 v2 files: single messages, several messages, batches, MLLP captures, errors."""

from __future__ import annotations

import pytest

from prostop_plugin.errors import HL7ParseError
from prostop_plugin.hl7.mllp import encode_frame
from prostop_plugin.hl7.reader import read_hl7, read_hl7_messages, split_messages
from prostop_plugin.readers import read_bytes
from tests.corpus_location import CORPUS
from tests.paths import TESTS

needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is not laid out")
CASES = TESTS / "hl7_cases"

#: corpus file → (message id, evidence source refs)
EXPECTED = {
    "adt_u071_final.hl7": ("CD-ADT-1001", ["DG1[1]"]),
    "adt_u072_no_ct.hl7": ("CD-ADT-1002", ["DG1[1]", "OBX[1]", "OBX[2]"]),
    "oru_antigen_positive.hl7": ("PC-2020-1119-17", ["OBX[1]"]),
    "oru_ct_groundglass.hl7": ("IB-CT-5531", ["OBX[1]", "OBX[2]"]),
    "oru_localcode_latin1.hl7": ("LD-000381", ["OBX[1]"]),
    "oru_rtpcr_negative.hl7": ("LG20201119-0002", ["OBX[1]"]),
    "oru_rtpcr_positive.hl7": ("LG20201119-0001", ["OBX[1]", "OBX[2]"]),
    "oru_serology_positive.hl7": ("LG20201119-0007", ["OBX[1]"]),
}


@needs_corpus
def test_every_corpus_hl7_file_is_covered() -> None:
    assert sorted(p.name for p in CORPUS.glob("*.hl7")) == sorted(EXPECTED)


@needs_corpus
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_files_read_through_the_reader_registry(name: str) -> None:
    events = read_bytes((CORPUS / name).read_bytes(), name, "file")
    [event] = events
    message_id, refs = EXPECTED[name]
    assert event.source.message_id == message_id
    assert event.source.adapter == "file"
    assert [e.source_ref for e in event.evidence] == refs


def test_batch_file() -> None:
    data = (CASES / "batch_two_messages.hl7").read_bytes()
    events = read_hl7(data, "batch.hl7", "filedrop")
    assert [e.source.message_id for e in events] == ["B-0001", "B-0002"]
    assert [e.patient.host_patient_id for e in events] == ["DOS-4411", "DOS-5120"]
    raws = split_messages(data)
    assert [r.number for r in raws] == [1, 2]
    assert data[raws[1].offset:].startswith(b"MSH|^~\\&|SIL-BIO|LABO-GARONNE|LGC|CABINET-DURAND|"
                                            b"20201119101600")


def test_batch_count_mismatch_is_reported() -> None:
    data = (CASES / "batch_two_messages.hl7").read_bytes().replace(b"BTS|2", b"BTS|3")
    with pytest.raises(HL7ParseError, match="announces 3 messages but the batch holds 2") as e:
        read_hl7(data, "batch.hl7", "filedrop")
    assert e.value.position == data.index(b"BTS|3")
    assert e.value.where is not None and e.value.where.startswith("batch.hl7")


@needs_corpus
def test_several_messages_each_in_its_own_charset() -> None:
    latin1 = (CORPUS / "oru_localcode_latin1.hl7").read_bytes()
    utf8 = (CORPUS / "adt_u072_no_ct.hl7").read_bytes()
    events = read_hl7(latin1 + b"\r\n" + utf8 + latin1, "many.hl7", "file")
    assert [e.source.message_id for e in events] == ["LD-000381", "CD-ADT-1002", "LD-000381"]
    assert events[0].evidence[0].test.display == (  # type: ignore[union-attr]
        "SARS-CoV-2 PCR (écouvillon nasopharyngé)")


@needs_corpus
def test_mllp_capture_and_bom_are_tolerated() -> None:
    one = (CORPUS / "oru_rtpcr_positive.hl7").read_bytes()
    two = (CORPUS / "adt_u071_final.hl7").read_bytes()
    framed = encode_frame(one) + b"\r\n" + encode_frame(two)
    assert [e.source.message_id for e in read_bytes(framed, "capture.mllp")] == [
        "LG20201119-0001", "CD-ADT-1001"]
    assert len(read_hl7(b"\xef\xbb\xbf" + one, "bom.hl7", "file")) == 1


@needs_corpus
def test_errors_name_the_file_the_message_and_the_byte_in_the_file() -> None:
    good = (CORPUS / "oru_rtpcr_positive.hl7").read_bytes()
    bad = good.replace(b"\rOBX|2|", b"\rob!|2|")
    data = good + bad
    with pytest.raises(HL7ParseError) as caught:
        read_hl7(data, "lab.hl7", "file")
    error = caught.value
    assert error.where is not None
    assert error.where.startswith("lab.hl7, message 2")
    assert error.position == len(good) + bad.index(b"ob!|2|")
    assert f"byte {error.position}" in str(error)


@needs_corpus
def test_field_errors_keep_their_location() -> None:
    data = (CORPUS / "oru_rtpcr_positive.hl7").read_bytes().replace(b"20201119100500",
                                                                    b"2020-11-19", 1)
    with pytest.raises(HL7ParseError) as caught:
        read_hl7(data, "lab.hl7", "file")
    assert caught.value.where == f"lab.hl7, message 1, OBX[1]-14, byte {caught.value.position}"


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"hello\r", "no MSH segment"),
        (b"junk\rMSH|^~\\&|A|B|||||ORU^R01|1|P|2.5\r", "outside any message"),
        (b"BHS|^~\\&|A\rBTS|0\r", "no message"),
        (b"BHS|^~\\&|A\rPID|1\rMSH|^~\\&|A|B|||||ORU^R01|1|P|2.5\r", "outside any message"),
        (b"MSH|^~\\&|A|B|||||SIU^S12|1|P|2.5\r", "message 1.*SIU"),
    ],
)
def test_file_level_errors(data: bytes, words: str) -> None:
    with pytest.raises(HL7ParseError, match=words) as caught:
        read_hl7(data, "f.hl7", "file")
    assert caught.value.where is not None and caught.value.where.startswith("f.hl7")


def test_messages_without_evidence_give_no_event_but_are_read() -> None:
    data = (b"MSH|^~\\&|A|B|||||ADT^A31|7|P|2.5\rPID|||DOS-1^^^B^PI||X^Y\r"
            + (CASES / "oru_two_patients_correction.hl7").read_bytes())
    messages = read_hl7_messages(data, "mixed.hl7", "file")
    assert [m.message_id for m in messages] == ["7", "MP-77"]
    assert messages[0].events == []
    assert len(messages[1].corrections) == 1
    assert [e.source.message_id for e in read_hl7(data, "mixed.hl7", "file")] == [
        "MP-77#1", "MP-77#2"]
