"""CDA R2 reader: corpus transcription, own cases, hostile XML, fuzzing."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prostop_plugin.errors import InputError, UnsafeXMLError
from prostop_plugin.hl7 import cda
from prostop_plugin.hl7.cda import MAX_CDA_BYTES, parse_cda, read_cda
from prostop_plugin.hprim import PARIS
from prostop_plugin.models import DiagnosisEvent, DiagnosisEvidence, LabResult, content_hash
from prostop_plugin.readers import read_bytes, sniff_format
from tests.corpus_location import CORPUS
from tests.fixtures.fuzzing import fuzz, only_typed_errors, reader_fuzz_tests
from tests.paths import TESTS

CASES = TESTS / "file_cases"
CDA_CORPUS = CORPUS / "cda_crbio_positive.xml"
PLUS_ONE = timezone(timedelta(hours=1))

pytestmark = pytest.mark.skipif(not CDA_CORPUS.exists(), reason="shared corpus not laid out")


def _read(data: bytes, name: str = "test.xml") -> list[DiagnosisEvent]:
    return read_cda(data, name, "filedrop")


def _minimal(body: str = "", patient_ids: str = '<id root="1.2.3" extension="P1"/>') -> bytes:
    return (
        '<ClinicalDocument xmlns="urn:hl7-org:v3" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><id root="1.2.9"/>'
        f"<recordTarget><patientRole>{patient_ids}<patient/></patientRole></recordTarget>"
        f"<component><structuredBody><component><section>{body}</section></component>"
        "</structuredBody></component></ClinicalDocument>"
    ).encode()


def _observation(value: str, code: str = "94500-6") -> str:
    return (f'<entry><observation classCode="OBS" moodCode="EVN"><code code="{code}" '
            f'codeSystem="2.16.840.1.113883.6.1"/><statusCode code="completed"/>{value}'
            "</observation></entry>")


# --- the shared corpus ----------------------------------------------------------------------


def test_corpus_document_is_transcribed_field_by_field() -> None:
    data = CDA_CORPUS.read_bytes()
    [event] = _read(data, "cda_crbio_positive.xml")

    assert event.source.format == "cda"
    assert event.source.adapter == "filedrop"
    assert event.source.message_id == "1.2.250.1.999.1.1^CRBIO-2020-7710050"
    assert event.source.host == "1.2.250.1.999.1.1"  # no author organisation: the id's root
    assert event.source.content_hash == content_hash(data)

    patient = event.patient
    assert (patient.ins, patient.ins_oid) == ("280013306312376", "1.2.250.1.213.1.4.10")
    assert patient.host_patient_id == "280013306312376"
    assert (patient.family_name, patient.given_name) == ("DUPONT", "CAMILLE")
    assert (patient.birth_date, patient.sex) == (date(1980, 1, 15), "F")
    assert event.practitioner is None

    [result] = event.evidence
    assert isinstance(result, LabResult)
    assert (result.test.code, result.test.system) == ("94309-2", "LN")
    assert result.test.display == "SARS-CoV-2 ARN [Présence] ; Résultat ; Amplification génique"
    assert result.value_type == "CWE"
    assert result.value_coded is not None
    assert (result.value_coded.code, result.value_coded.system, result.value_coded.display) == (
        "10828004", "SCT", "positif")
    assert (result.value_text, result.value_numeric) == (None, None)
    assert (result.abnormal_flag, result.status) == ("A", "F")
    assert result.observed_at == datetime(2020, 11, 18, 9, 0, tzinfo=PLUS_ONE)
    assert result.collected_at is None
    assert result.source_ref == "observation[1] line 38"


def test_corpus_document_is_routed_to_this_reader_by_content() -> None:
    data = CDA_CORPUS.read_bytes()
    assert sniff_format(data) == "cda"
    [event] = read_bytes(data, "x.bin", "filedrop")
    assert event.source.format == "cda"


# --- own cases ------------------------------------------------------------------------------


def test_problem_u071_with_author_rpps() -> None:
    [event] = _read((CASES / "cda_vsm_problem_u071.xml").read_bytes())
    assert event.source.host == "Cabinet du Dr Durand"
    assert event.source.message_id == "1.2.250.1.999.2.1^VSM-2020-0042"
    assert event.patient.host_patient_id == "IPP-0042"
    assert (event.patient.ins, event.patient.ins_oid) == ("280013306312376",
                                                          "1.2.250.1.213.1.4.8")
    assert event.patient.family_name == "DUPONT"  # the birth name (BR), not the used name
    assert event.practitioner is not None
    assert (event.practitioner.rpps, event.practitioner.family_name,
            event.practitioner.given_name, event.practitioner.profession_code) == (
        "10003456789", "DURAND", "Claire", "10")

    # the nested problem-status observation is part of the problem, not a result
    u071, j189 = event.evidence
    assert isinstance(u071, DiagnosisEvidence) and isinstance(j189, DiagnosisEvidence)
    assert (u071.code.code, u071.code.system, u071.status) == ("U07.1", "I10", "final")
    assert u071.recorded_at == datetime(2020, 11, 19, 14, 0, tzinfo=PLUS_ONE)
    assert (j189.code.code, j189.status) == ("J18.9", "ruled_out")


def test_replacing_report_with_st_pq_and_translation(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="prostop_plugin.hl7.cda"):
        [event] = _read((CASES / "cda_crbio_pq_st_replaces.xml").read_bytes(), "rplc.xml")
    # the INS key is wrong: flagged, not used; the other id identifies the patient
    assert event.patient.ins is None and event.patient.host_patient_id == "LG-PAT-17"
    assert "rplc.xml, line 14: INS 2…77 has a wrong or missing key" in caplog.text
    assert "280013306312377" not in caplog.text  # no patient identifier in logs
    assert event.source.host == "LABO-GARONNE"
    assert event.practitioner is not None and event.practitioner.profession_code == "21"

    pcr, ct, antigen = event.evidence
    assert isinstance(pcr, LabResult) and isinstance(ct, LabResult)
    assert isinstance(antigen, LabResult)
    assert (pcr.test.code, pcr.test.system) == ("COV-PCR", "L")
    assert pcr.test_alternate is not None
    assert (pcr.test_alternate.code, pcr.test_alternate.system) == ("94500-6", "LN")
    assert (pcr.value_type, pcr.value_text, pcr.abnormal_flag) == ("ST", "POSITIF", "POS")
    assert pcr.status == "C"  # completed in a document that replaces an earlier one
    assert pcr.collected_at == datetime(2020, 11, 18, 8, 15, tzinfo=PARIS)  # specimen procedure
    assert pcr.observed_at == datetime(2020, 11, 18, 8, 30, tzinfo=PLUS_ONE)
    assert (ct.value_type, ct.value_numeric, ct.value_text, ct.unit) == (
        "NM", 23.8, "23.8", "{Ct}")
    assert antigen.status == "P"  # statusCode active
    assert antigen.value_coded is not None and antigen.value_coded.code == "260385009"


def test_value_types_and_statuses() -> None:
    body = "".join([
        _observation('<value xsi:type="ST">POSITIF</value>'),
        _observation('<value xsi:type="PQ" value="abc" unit="g"/>'),
        _observation('<value xsi:type="IVL_PQ"><low value="1" unit="g/L"/><high value="2"/>'
                     "</value>"),
        _observation('<value xsi:type="CD" nullFlavor="OTH"><originalText>DETECTE'
                     "</originalText></value>"),
        _observation('<interpretationCode code="POS"/>'),
        _observation('<value xsi:type="BL" value="true"/>'),
        '<entry><observation><code nullFlavor="UNK"/><value xsi:type="ST">x</value>'
        "</observation></entry>",
    ])
    [event] = _read(_minimal(body))
    st_, pq, ivl, cd, interp, bl = event.evidence
    assert isinstance(st_, LabResult) and st_.value_text == "POSITIF"
    assert isinstance(pq, LabResult) and (pq.value_text, pq.unit) == ("abc", "g")
    assert isinstance(ivl, LabResult) and (ivl.value_type, ivl.value_text, ivl.unit) == (
        "SN", "1-2", "g/L")
    assert isinstance(cd, LabResult) and (cd.value_coded, cd.value_text) == (None, "DETECTE")
    assert isinstance(interp, LabResult) and interp.abnormal_flag == "POS"
    assert isinstance(bl, LabResult) and (bl.value_type, bl.value_text) == ("BL", "true")


def test_document_without_results_or_problems_gives_no_event() -> None:
    assert _read(_minimal("<title>Rien</title>")) == []


def test_patient_with_only_a_bad_ins_is_an_error() -> None:
    ids = '<id root="1.2.250.1.213.1.4.8" extension="280013306312377"/>'
    with pytest.raises(InputError, match="no usable patient identifier"):
        _read(_minimal(_observation('<value xsi:type="ST">X</value>'), ids))


# --- hostile and unusable XML ---------------------------------------------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>
<ClinicalDocument xmlns="urn:hl7-org:v3">&lol9;</ClinicalDocument>"""


def _xxe(secret_file: Path, *, parameter: bool = False) -> bytes:
    if parameter:
        return (f'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY % s SYSTEM "file://{secret_file}">'
                '%s;]><ClinicalDocument xmlns="urn:hl7-org:v3"/>').encode()
    return (f'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY s SYSTEM "file://{secret_file}">]>'
            '<ClinicalDocument xmlns="urn:hl7-org:v3"><title>&s;</title></ClinicalDocument>'
            ).encode()


def test_billion_laughs_is_rejected_quickly() -> None:
    started = time.perf_counter()
    with pytest.raises(UnsafeXMLError, match="DOCTYPE or entities"):
        _read(BILLION_LAUGHS)
    assert time.perf_counter() - started < 1


@pytest.mark.parametrize("parameter", [False, True])
def test_external_entity_is_rejected_and_the_file_never_read(
    tmp_path: Path, parameter: bool
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-7f3a")
    with pytest.raises(UnsafeXMLError) as caught:
        _read(_xxe(secret, parameter=parameter))
    assert "TOP-SECRET" not in str(caught.value)


@pytest.mark.parametrize("document", ["xxe", "laughs", "external-dtd"])
def test_parser_itself_never_expands_even_if_the_scan_missed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, document: str
) -> None:
    """Defence in depth: with the byte scan disabled, the parser and post-checks still hold."""
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-7f3a")
    data = {
        "xxe": _xxe(secret),
        "laughs": BILLION_LAUGHS,
        "external-dtd": b'<!DOCTYPE ClinicalDocument SYSTEM "http://127.0.0.1:9/cda.dtd">'
                        b'<ClinicalDocument xmlns="urn:hl7-org:v3"/>',
    }[document]
    monkeypatch.setattr(cda, "_declares_dtd", lambda _data: False)
    with pytest.raises(UnsafeXMLError) as caught:
        parse_cda(data, "evil.xml")
    assert "TOP-SECRET" not in str(caught.value)
    try:
        root = cda.etree.fromstring(data, parser=cda.hardened_parser())
    except UnsafeXMLError:
        return
    assert "TOP-SECRET" not in cda.etree.tostring(root).decode()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
@pytest.mark.parametrize("scan", [True, False])
def test_no_external_file_is_even_opened(tmp_path: Path, scan: bool) -> None:
    """A named pipe blocks whoever opens it: a parse that finishes never touched it."""
    pipe = tmp_path / "evil.dtd"
    os.mkfifo(pipe)
    script = textwrap.dedent(f"""
        from prostop_plugin.errors import InputError
        from prostop_plugin.hl7 import cda
        if not {scan}:
            cda._declares_dtd = lambda data: False
        for doc in (b'<!DOCTYPE d SYSTEM "{pipe}"><ClinicalDocument xmlns="urn:hl7-org:v3"/>',
                    b'<!DOCTYPE d [<!ENTITY % p SYSTEM "{pipe}"> %p;]><d/>',
                    b'<!DOCTYPE d [<!ENTITY e SYSTEM "{pipe}">]><d>&e;</d>'):
            try:
                cda.read_cda(doc, "evil.xml", "test")
            except InputError:
                pass
    """)
    completed = subprocess.run([sys.executable, "-c", script], timeout=20, capture_output=True)
    assert completed.returncode == 0, completed.stderr.decode()


def test_utf16_doctype_is_rejected() -> None:
    data = ('<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE a [<!ENTITY b "c">]>'
            '<ClinicalDocument xmlns="urn:hl7-org:v3"/>').encode("utf-16")
    with pytest.raises(UnsafeXMLError):
        _read(data)


def test_huge_document_is_refused_before_parsing() -> None:
    with pytest.raises(UnsafeXMLError, match="over the"):
        _read(b"<" + b"a" * MAX_CDA_BYTES)
    with pytest.raises(UnsafeXMLError, match="over the 100-byte limit"):
        parse_cda(CDA_CORPUS.read_bytes(), "x", max_bytes=100)


def test_deep_nesting_is_an_input_error() -> None:
    data = b'<ClinicalDocument xmlns="urn:hl7-org:v3">' + b"<a>" * 5000 + b"</a>" * 5000 + \
        b"</ClinicalDocument>"
    with pytest.raises(InputError):
        _read(data)


def test_truncated_document_names_the_position() -> None:
    data = CDA_CORPUS.read_bytes()
    with pytest.raises(InputError, match="not well-formed XML") as caught:
        _read(data[: len(data) // 2], "cut.xml")
    assert "cut.xml, line" in str(caught.value) and "resend" in str(caught.value)


@pytest.mark.parametrize(("data", "message"), [
    (b"", "empty"),
    (bytes(range(256)) * 4, "not XML"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 50, "not XML"),
    (b"<ClinicalDocument><id/></ClinicalDocument>", "not in the HL7 v3 namespace"),
    (b'<ClinicalDocument xmlns="urn:hl7-org:v2"/>', "not in the HL7 v3 namespace"),
    (b"<html><body/></html>", r"not a CDA document \(root element <html>\)"),
    (b"<ClinicalDocument", "not well-formed"),
])
def test_unusable_input_is_an_input_error(data: bytes, message: str) -> None:
    with pytest.raises(InputError, match=message):
        _read(data)


# --- fuzzing: only typed errors, never a hang -----------------------------------------------

FUZZ = fuzz(120)
SEEDS = [p.read_bytes() for p in (CDA_CORPUS, CASES / "cda_vsm_problem_u071.xml",
                                  CASES / "cda_crbio_pq_st_replaces.xml") if p.exists()]


def _only_typed_errors(data: bytes) -> None:
    only_typed_errors(_read, data)


test_random_bytes_give_events_or_input_errors, test_mutated_samples_give_events_or_input_errors = (
    reader_fuzz_tests(_read, SEEDS, span=20_000, examples=120))


@FUZZ
@given(st.sampled_from(SEEDS), st.integers(0, 60), st.sampled_from([
    b' value="', b'<value xsi:type="PQ" value="x"/>', b"<!-- -->", b"&amp;", b"&#0;",
    b'<id root="1.2.250.1.213.1.4.8" extension="2A"/>', b"</observation>", b"<observation>",
    b'<effectiveTime value="99999999999999"/>', b'codeSystem=""',
]))
def test_structural_mutations_give_events_or_input_errors(
    seed: bytes, line: int, snippet: bytes
) -> None:
    lines = seed.split(b"\n")
    lines.insert(line % len(lines), snippet)
    _only_typed_errors(b"\n".join(lines))
