"""A file cut short is recognised as incomplete (:class:`IncompleteInputError`), never read as
a whole message without its last results: HL7 v2 (segment terminator, batch trailers, an ORU
order without its results, MLLP end byte) and HPRIM (the ``****FIN****`` and ``L`` ends)."""

from __future__ import annotations

from pathlib import Path

import pytest

from prostop_plugin.errors import IncompleteInputError, InputError
from prostop_plugin.hl7.mllp import encode_frame
from prostop_plugin.hl7.reader import read_hl7, split_messages
from prostop_plugin.hprim import read_hprim
from prostop_plugin.readers import read_bytes
from tests.corpus_location import CORPUS

pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is not laid out")
CASES = Path(__file__).parent / "file_cases"
HL7_CASES = Path(__file__).parent / "hl7_cases"


def corpus(name: str) -> bytes:
    return (CORPUS / name).read_bytes()


@pytest.mark.parametrize("name", ["oru_rtpcr_positive.hl7", "adt_u072_no_ct.hl7"])
def test_every_cut_inside_a_segment_is_incomplete(name: str) -> None:
    data = corpus(name)
    first_segment = data.index(b"\r")
    for end in range(first_segment, len(data)):
        if data[end - 1:end] in (b"\r", b"\n"):
            continue  # cut at a segment boundary: see below
        with pytest.raises(IncompleteInputError, match="truncated: the file ends in the middle"):
            read_hl7(data[:end], name, "file")


def test_an_oru_cut_after_its_order_before_any_result_is_incomplete() -> None:
    data = corpus("oru_rtpcr_positive.hl7")
    cut = data[:data.index(b"OBX|1|")]
    with pytest.raises(IncompleteInputError, match=r"last order \(OBR\) is not followed by any "
                       r"result \(OBX\)") as caught:
        read_bytes(cut, "lab.hl7", "file")
    assert caught.value.where is not None and caught.value.where.startswith("lab.hl7, byte ")


@pytest.mark.parametrize("status", ["X", "I", "O", "S"])
def test_an_order_announcing_no_result_is_whole(status: str) -> None:
    data = corpus("oru_rtpcr_positive.hl7")
    cut = data[:data.index(b"OBX|1|")].replace(b"|||F\r", f"|||{status}\r".encode())
    assert read_hl7(cut, "lab.hl7", "file") == []  # read: no result, no evidence


def test_a_message_cut_between_results_is_read_with_the_results_it_has() -> None:
    """Not detectable from the bytes (and the results it has are real): read as it is."""
    data = corpus("oru_rtpcr_positive.hl7")
    [event] = read_hl7(data[:data.index(b"OBX|2|")], "lab.hl7", "file")
    assert [e.source_ref for e in event.evidence] == ["OBX[1]"]


def test_batches_need_their_trailers() -> None:
    data = (HL7_CASES / "batch_two_messages.hl7").read_bytes()
    assert len(split_messages(data)) == 2
    without_fts = data[:data.index(b"FTS|")]
    with pytest.raises(IncompleteInputError, match=r"file header .* has no trailer \(FTS\)"):
        split_messages(without_fts)
    without_bts = data[:data.index(b"BTS|")]
    with pytest.raises(IncompleteInputError, match=r"batch header .* has no trailer \(BTS\)"):
        split_messages(without_bts)
    headers_only = data[:data.index(b"MSH|")]
    with pytest.raises(IncompleteInputError, match="no trailer"):
        read_hl7(headers_only, "batch.hl7", "file")


def test_an_mllp_capture_needs_its_last_end_byte() -> None:
    one = corpus("oru_rtpcr_positive.hl7")
    two = corpus("adt_u071_final.hl7")
    capture = encode_frame(one) + encode_frame(two)
    assert len(read_bytes(capture, "capture.mllp")) == 2
    for cut in (capture[:-2], capture[:-len(two) // 2], capture[:len(encode_frame(one)) + 1]):
        with pytest.raises(IncompleteInputError, match="last MLLP frame has no end byte"):
            read_bytes(cut, "capture.mllp")


def test_trailing_blanks_after_the_last_terminator_are_fine() -> None:
    data = corpus("oru_rtpcr_positive.hl7")
    assert len(read_hl7(data + b"\n\r\n", "lab.hl7", "file")) == 1


def test_hprim_sante_without_its_l_record_is_incomplete() -> None:
    data = (CASES / "hprim_sante_swapped.hpr").read_bytes()
    assert len(read_hprim(data, "lab.hpr", "file")) == 1
    with pytest.raises(IncompleteInputError, match="no closing L record"):
        read_hprim(data[:data.index(b"L|1")], "lab.hpr", "file")


def test_hprim_medecin_cut_inside_its_lab_block_is_incomplete() -> None:
    data = corpus("hprim_rtpcr_positif.hpr")
    with pytest.raises(IncompleteInputError, match=r"never closed by \*\*\*\*FIN\*\*\*\*"):
        read_hprim(data[:data.index(b"RES|Cycle")], "lab.hpr", "file")


def test_hprim_medecin_with_a_block_restarted_is_malformed_not_incomplete() -> None:
    data = corpus("hprim_rtpcr_positif.hpr").replace(b"****FIN****\r\n", b"****LAB****\r\n")
    with pytest.raises(InputError, match="never closed") as caught:
        read_hprim(data, "lab.hpr", "file")
    assert not isinstance(caught.value, IncompleteInputError)


def test_hprim_medecin_report_cut_mid_line_before_its_lab_block_is_incomplete() -> None:
    first = corpus("hprim_rtpcr_positif.hpr")
    second = first.replace(b"DUPONT", b"MARTIN")
    data = first + second[:second.index(b"DR DURAND")]
    with pytest.raises(IncompleteInputError, match="ends in the middle of a line"):
        read_hprim(data, "lab.hpr", "file")
