"""HPRIM médecin and HPRIM Santé readers: corpus transcription, own cases, errors, fuzzing."""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prostop_plugin.errors import InputError
from prostop_plugin.hprim import (
    MAX_HPRIM_BYTES,
    PARIS,
    parse_hprim,
    parse_nir,
    parse_ts,
    read_hprim,
)
from prostop_plugin.models import DiagnosisEvent, LabResult, content_hash
from prostop_plugin.readers import read_bytes, sniff_format
from tests.corpus_location import CORPUS
from tests.fixtures.fuzzing import fuzz, only_typed_errors, reader_fuzz_tests
from tests.paths import TESTS

CASES = TESTS / "file_cases"
HPRIM_CORPUS = CORPUS / "hprim_rtpcr_positif.hpr"

pytestmark = pytest.mark.skipif(not HPRIM_CORPUS.exists(), reason="shared corpus not laid out")


def _read(data: bytes, name: str = "test.hpr") -> list[DiagnosisEvent]:
    return read_hprim(data, name, "filedrop")


def _results(event: DiagnosisEvent) -> list[LabResult]:
    results = [e for e in event.evidence if isinstance(e, LabResult)]
    assert len(results) == len(event.evidence)
    return results


# --- the shared corpus ----------------------------------------------------------------------


def test_corpus_file_is_transcribed_field_by_field() -> None:
    data = HPRIM_CORPUS.read_bytes()
    assert "prélèvement".encode("latin-1") in data  # the sample really is Latin-1
    [event] = _read(data, "hprim_rtpcr_positif.hpr")

    assert event.source.adapter == "filedrop"
    assert event.source.host == "LABO-GARONNE"
    assert event.source.format == "hprim"
    assert event.source.content_hash == content_hash(data)
    assert event.source.message_id is not None
    assert event.source.message_id.startswith("LG-7710040#")

    patient = event.patient
    assert patient.host_patient_id == "280013306312376"
    assert patient.ins == "280013306312376"
    assert patient.ins_oid is None  # a NIR in an HPRIM file is not a qualified INS
    assert (patient.family_name, patient.given_name) == ("DUPONT", "CAMILLE")
    assert patient.birth_date == date(1980, 1, 15)
    assert patient.sex == "F"

    assert event.practitioner is not None
    assert event.practitioner.rpps == "10003456789"
    assert event.practitioner.family_name == "DURAND CLAIRE"

    pcr, ct = _results(event)
    assert (pcr.test.code, pcr.test.system, pcr.test.display) == (
        "94500-6", "LN", "SARS-CoV-2 ARN (RT-PCR)")
    assert (pcr.value_type, pcr.value_text, pcr.value_numeric) == ("ST", "POSITIF", None)
    assert (pcr.abnormal_flag, pcr.status, pcr.unit) == ("A", "F", None)
    assert pcr.observed_at == datetime(2020, 11, 19, tzinfo=PARIS)
    assert pcr.source_ref == "RES line 18"
    assert (ct.test.code, ct.test.system) == ("94745-7", "LN")
    assert (ct.value_type, ct.value_numeric, ct.value_text) == ("NM", 23.8, "23.8")  # as HL7
    assert (ct.abnormal_flag, ct.status, ct.source_ref) == ("N", "F", "RES line 19")


def test_corpus_free_text_is_decoded_as_latin1() -> None:
    [report] = parse_hprim(HPRIM_CORPUS.read_bytes(), "x")
    assert report.title == "LABO-GARONNE"
    assert report.file_number == "LG-7710040"
    assert report.report_date == date(2020, 11, 19)
    assert (report.sender_code, report.sender_name) == ("LG01", "LABO-GARONNE")
    assert report.recipient_code == "10003456789"
    assert any("prélèvement nasopharyngé" in line for line in report.free_text)


def test_corpus_file_is_routed_to_this_reader_by_content() -> None:
    data = HPRIM_CORPUS.read_bytes()
    assert sniff_format(data) == "hprim"
    [event] = read_bytes(data, "x.txt", "filedrop")
    assert event.source.format == "hprim"


@pytest.mark.parametrize("newline", [b"\n", b"\r"])
def test_line_ends_do_not_change_the_transcription(newline: bytes) -> None:
    crlf = HPRIM_CORPUS.read_bytes()
    [expected] = _read(crlf)
    [event] = _read(crlf.replace(b"\r\n", newline))
    assert [r.model_dump() for r in _results(event)] == [r.model_dump() for r in
                                                         _results(expected)]
    assert event.patient == expected.patient


# --- own cases ------------------------------------------------------------------------------


def test_hprim_sante_with_swapped_delimiters() -> None:
    data = (CASES / "hprim_sante_swapped.hpr").read_bytes()
    assert sniff_format(data) == "hprim"
    [event] = _read(data)
    assert event.source.format == "hprim-sante"
    assert event.source.host == "LABO-GARONNE"
    assert event.source.message_id is not None
    assert event.source.message_id.startswith("LG-7710041#")
    assert event.patient.ins == "280013306312376"
    assert (event.patient.family_name, event.patient.given_name) == ("DUPONT", "CAMILLE")
    assert (event.patient.birth_date, event.patient.sex) == (date(1980, 1, 15), "F")
    assert event.practitioner is not None and event.practitioner.rpps == "10003456789"

    pcr, ct, comment = _results(event)
    # components are "~" (code~label~system~alt code~alt label~alt system), not HL7's "^"
    assert (pcr.test.code, pcr.test.system) == ("COV2", "L")
    assert pcr.test.display == "Recherche d'ARN SARS-CoV-2 sur prélèvement"
    assert pcr.test_alternate is not None
    assert (pcr.test_alternate.code, pcr.test_alternate.system) == ("94500-6", "LN")
    assert pcr.value_coded is not None
    assert (pcr.value_coded.code, pcr.value_coded.system) == ("10828004", "SCT")
    assert (pcr.value_type, pcr.abnormal_flag, pcr.status) == ("CE", "A", "F")
    assert pcr.collected_at == datetime(2020, 11, 18, 9, 0, tzinfo=PARIS)  # from OBR
    assert pcr.observed_at == datetime(2020, 11, 19, 10, 15, tzinfo=PARIS)
    assert pcr.source_ref == "OBX line 4"
    assert ct.test.display == "Cycle threshold ~ Ct"  # \S\ is the escaped component character
    assert ct.value_numeric == 23.8  # decimal comma
    # repetitions are "^"; the A record continued the observation time
    assert comment.value_text == "Prélèvement nasopharyngé technique RT-PCR"
    assert comment.observed_at == datetime(2020, 11, 19, 10, 15, tzinfo=PARIS)


def test_hprim_sante_reads_other_declared_delimiters() -> None:
    text = "\r".join([
        "H|\\^&~|F.HPR||LAB9\\Labo Neuf||ORU|||||P|H2.1|202011191030",
        "P|1|ID-9|||NOM\\PRENOM||19900101|M",
        "OBR|1||\\DOS-9|X|R||202011180700",
        "OBX|1|ST|94500-6\\PCR\\LN||POSITIF|||A|||F",
        "L|1",
    ])
    [event] = _read(text.encode("ascii"))
    [result] = _results(event)
    assert (event.patient.host_patient_id, event.patient.family_name) == ("ID-9", "NOM")
    assert event.source.host == "Labo Neuf"
    assert (result.test.code, result.test.system, result.value_text) == (
        "94500-6", "LN", "POSITIF")


def test_utf8_lf_report_without_finfichier(caplog: pytest.LogCaptureFixture) -> None:
    data = (CASES / "hprim_utf8_lf.hpr").read_bytes()
    assert b"\r" not in data and b"FINFICHIER" not in data
    with caplog.at_level(logging.WARNING, logger="prostop_plugin.hprim"):
        [event] = _read(data, "utf8.hpr")
    assert event.source.host == "LABO DES ÉTANGS"
    assert event.patient.given_name == "ÉLODIE"
    # the NIR's key is wrong: not used as the INS, flagged, matching falls back
    assert event.patient.ins is None
    assert event.patient.host_patient_id == "ET-2020-555"
    assert event.patient.sex is None
    assert "utf8.hpr, line 8: NIR 2…99 has a wrong key" in caplog.text
    assert "275037511512399" not in caplog.text  # no patient identifier in logs

    pcr, igg, crp = _results(event)
    assert pcr.value_text == "DÉTECTÉ à confirmer par séquençage"  # continuation line
    assert (igg.value_type, igg.value_text, igg.value_numeric) == ("NM", "<0,5", None)
    assert igg.status == "P"  # unknown status "V" is never read as final
    assert "utf8.hpr, line 19: unknown result status 'V'" in caplog.text
    assert (crp.test.system, crp.value_numeric, crp.unit) == ("L", 3.2, "mg/L")


def test_batch_of_reports_gives_one_event_per_patient() -> None:
    first = HPRIM_CORPUS.read_bytes()
    second = (CASES / "hprim_utf8_lf.hpr").read_bytes().decode("utf-8").replace("\n", "\r\n")
    events = _read(first + second.encode("latin-1") + b"****FINFICHIER****\r\n")
    assert [e.patient.family_name for e in events] == ["DUPONT", "MARTIN"]
    assert events[0].source.message_id != events[1].source.message_id
    assert _results(events[1])[0].source_ref == "RES line 38"  # the second report starts on line 22


def test_message_id_separates_partial_and_final_reports_of_one_file_number() -> None:
    final = HPRIM_CORPUS.read_bytes()
    partial = final.replace(b"POSITIF||||A|F", b"EN COURS||||N|P")
    [a], [b], [c] = _read(final), _read(partial), _read(final)
    assert a.source.message_id != b.source.message_id  # the final one must be read too
    assert a.source.message_id == c.source.message_id  # the very same report is a resend


def test_text_only_report_has_no_event_but_is_transcribed() -> None:
    data = HPRIM_CORPUS.read_bytes().split(b"****LAB****")[0] + b"****FINFICHIER****\r\n"
    assert _read(data) == []
    [report] = parse_hprim(data, "letter.hpr")
    assert report.family_name == "DUPONT" and report.results == []


def test_tex_rec_and_unknown_lines_in_the_lab_block_are_tolerated() -> None:
    data = HPRIM_CORPUS.read_bytes().replace(
        b"****LAB****\r\n", b"****LAB****\r\nTEX|texte libre\r\nREC|x|y\r\nbruit sans barre\r\n")
    [event] = _read(data)
    assert len(event.evidence) == 2


def test_hprim_sante_values_statuses_and_numbers_read_as_hl7_does() -> None:
    text = "\r".join([
        "H|~^\\&|F.HPR||L1~Labo||ORU",
        "P|1|ID-1|||NOM~PRENOM",
        "OBX|1|CE|C1~PCR~L||POS~Positif~L~10828004~positif~SNM|||A|||U",
        "OBX|2|NM|C2~Ct~L||nan|||N|||W",
        "OBX|3|NM|C3~X~L||1e999|||N|||N",
        "OBX|4|NM|C4~Y~L||-0,5|||N|||I",
        "L|1",
    ])
    coded, nan, huge, negative = _results(_read(text.encode())[0])
    assert coded.value_coded is not None  # a local value code gives way to its alternate
    assert (coded.value_coded.code, coded.value_coded.system, coded.status) == (
        "10828004", "SCT", "F")
    assert (nan.value_numeric, nan.value_text, nan.status) == (None, "nan", "D")
    assert (huge.value_numeric, huge.status) == (None, "X")
    assert (negative.value_numeric, negative.status) == (-0.5, "P")


def test_corsican_and_keyless_nirs() -> None:
    assert parse_nir("2 69 05 2A 123 456 88") is not None
    assert parse_nir("269052A12345688").key_ok is True  # type: ignore[union-attr]
    assert parse_nir("170122B98765409").key_ok is True  # type: ignore[union-attr]
    assert parse_nir("170122B98765410").key_ok is False  # type: ignore[union-attr]
    assert parse_nir("2800133063123").key_ok is None  # type: ignore[union-attr]
    assert parse_nir("280013306312376").sex == "F"  # type: ignore[union-attr]
    assert parse_nir("LG-7710040") is None and parse_nir("") is None


def test_times_without_offset_are_paris_time() -> None:
    assert parse_ts("202007011200") == datetime(2020, 7, 1, 12, 0, tzinfo=PARIS)
    assert parse_ts("20201119103000+0100").utcoffset() == timedelta(hours=1)  # type: ignore[union-attr]
    assert parse_ts("2020111") is None and parse_ts("20201340") is None


# --- unusable input -------------------------------------------------------------------------


def test_truncated_lab_block_is_an_error_naming_the_line() -> None:
    data = HPRIM_CORPUS.read_bytes().split(b"****FIN****")[0]
    with pytest.raises(InputError, match="truncated") as caught:
        _read(data, "cut.hpr")
    assert "cut.hpr, line" in str(caught.value) and "line 17" in str(caught.value)


def test_truncated_hprim_sante_message_is_an_error() -> None:
    data = (CASES / "hprim_sante_swapped.hpr").read_bytes().replace(b"L|1\r\n", b"")
    with pytest.raises(InputError, match="no closing L record"):
        _read(data)


def test_h_record_without_delimiters_is_an_error() -> None:
    with pytest.raises(InputError, match="without its delimiters"):
        _read(b"H|garbage\rP|1\rL|1\r")


def test_result_before_patient_is_an_error() -> None:
    with pytest.raises(InputError, match=r"line 2: a result \(OBX\)"):
        _read(b"H|~^\\&|F||L~L\rOBX|1|ST|X||Y\rL|1\r")


def test_results_without_any_patient_identifier_are_an_error() -> None:
    lines = HPRIM_CORPUS.read_bytes().split(b"\r\n")
    lines[7] = lines[8] = b""  # no NIR, no file number
    with pytest.raises(InputError, match="no patient identifier"):
        _read(b"\r\n".join(lines))


@pytest.mark.parametrize("data", [b"", b"  \r\n\r\n", b"\x00\x01\x02binary\xff" * 10,
                                  bytes(range(256))])
def test_empty_and_binary_input_are_errors(data: bytes) -> None:
    with pytest.raises(InputError):
        _read(data)


def test_oversize_input_is_refused_before_decoding() -> None:
    with pytest.raises(InputError, match="over the"):
        _read(b"x" * (MAX_HPRIM_BYTES + 1))


# --- fuzzing: only typed errors, never a hang -----------------------------------------------

FUZZ = fuzz(120)
SEEDS = [HPRIM_CORPUS.read_bytes() if HPRIM_CORPUS.exists() else b"",
         (CASES / "hprim_sante_swapped.hpr").read_bytes(),
         (CASES / "hprim_utf8_lf.hpr").read_bytes()]


def _only_typed_errors(data: bytes) -> None:
    only_typed_errors(_read, data)


test_random_bytes_give_events_or_input_errors, test_mutated_samples_give_events_or_input_errors = (
    reader_fuzz_tests(_read, SEEDS, span=10_000, examples=120))


@FUZZ
@given(st.lists(st.sampled_from(["RES", "|", "****LAB****", "****FIN****", "\r\n", "\n", "A|",
                                 "H|~^\\&|", "P|", "OBX|", "L|1", "~", "^", "\\S\\", "9", "é"]),
                max_size=60))
def test_token_soup_gives_events_or_input_errors(tokens: list[str]) -> None:
    _only_typed_errors("".join(tokens).encode("utf-8"))
