"""Fuzzing the MLLP handling, from bytes on the wire to the ACK, as the listener does it.

The stream (corpus messages, mutated, framed or not, junk, stray framing bytes, cut anywhere)
goes through the listener's own steps: :func:`feed_decoder` (MLLP framing), then
:meth:`InboundHandler.prepare` (parse, map, screen) for each frame, and the ACK. Every outcome
is a frame handled (an ACK, no ACK when MSH-15 asks for none, or events waiting to be stored)
or a typed framing error answered AR: never another exception, and every ACK parses as an ACK.
Nothing is stored: the ledger is not what is fuzzed here.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prostop_hl7v2_mllp import plugin as mllp_plugin
from prostop_hl7v2_mllp.inbound import Delivery, InboundHandler
from prostop_hl7v2_mllp.settings import load_mllp_settings
from prostop_plugin.app import Prostop
from prostop_plugin.hl7.er7 import parse
from prostop_plugin.hl7.mllp import MLLPDecoder, MLLPFramingError
from prostop_plugin.hl7.send import feed_decoder
from prostop_plugin.models import DiagnosisEvent
from tests.adapters.hl7v2_mllp.conftest import mllp_section, runtime_settings
from tests.corpus_location import CORPUS
from tests.fixtures.fuzzing import fuzz

CASES = Path(__file__).parents[2] / "hl7_cases"
MESSAGES = [p.read_bytes() for p in sorted(CORPUS.glob("*.hl7")) + sorted(CASES.glob("*.hl7"))]
FRAME_LIMIT = 4096  # small, so that oversize frames are met too


@pytest.fixture(scope="module")
def handler(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InboundHandler]:
    folder = tmp_path_factory.mktemp("mllp-fuzz")
    section = mllp_section(max_frame_bytes=FRAME_LIMIT)
    with Prostop.open(runtime_settings(folder, section), plugins=[mllp_plugin]) as app:
        yield InboundHandler(app, load_mllp_settings(app.settings))


@st.composite
def damaged(draw: st.DrawFn) -> bytes:
    """A corpus message with a few bytes flipped, inserted or deleted."""
    data = bytearray(draw(st.sampled_from(MESSAGES)))
    for _ in range(draw(st.integers(0, 5))):
        at = draw(st.integers(0, max(0, len(data) - 1)))
        action = draw(st.sampled_from(["flip", "insert", "delete"]))
        if action == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif action == "insert":
            data[at:at] = draw(st.sampled_from([b"|", b"^", b"~", b"\\", b"&", b"\r", b"\n",
                                                b"\x0b", b"\x1c", b"\xff", b"MSH|^~\\&|",
                                                b"99999999999999", b"OBX|1|CWE|"]))
        else:
            del data[at:at + draw(st.integers(1, 40))]
    return bytes(data)


PIECES = st.one_of(
    damaged().map(lambda m: b"\x0b" + m + b"\x1c\r"),  # framed (framing bytes inside: kept)
    damaged(),  # not framed
    st.sampled_from([b"\x0b", b"\x1c", b"\x1c\r", b"\r\n", b" ", b"GET / HTTP/1.1\r\n",
                     b"\x0b" + b"MSH|^~\\&|" + b"X" * FRAME_LIMIT + b"\x1c\r"]),
    st.binary(max_size=64),
)


def _is_ack(reply: bytes) -> bool:
    message = parse(reply)
    return message["MSH-9.1"] == "ACK" and message["MSA-1"] in {"AA", "AE", "AR", "CA", "CE",
                                                                 "CR"}


def _handle(handler: InboundHandler, item: bytes | MLLPFramingError) -> None:
    if isinstance(item, MLLPFramingError):
        assert _is_ack(handler.framing_error(item))
        return
    prepared = handler.prepare(item)
    if isinstance(prepared, Delivery):
        assert prepared.events or prepared.corrections
        assert all(isinstance(e, DiagnosisEvent) for e in prepared.events)
        prepared = handler.acknowledge(prepared.message)
    if prepared is not None:
        assert _is_ack(prepared)


@fuzz(60)
@given(st.lists(PIECES, min_size=1, max_size=6), st.lists(st.integers(1, 700), min_size=1,
                                                            max_size=8))
def test_any_stream_gives_acks_or_typed_framing_errors(
    handler: InboundHandler, pieces: list[bytes], sizes: list[int]
) -> None:
    stream = b"".join(pieces)
    decoder = MLLPDecoder(FRAME_LIMIT)
    position, turn = 0, 0
    while position < len(stream):
        size = sizes[turn % len(sizes)]
        for item in feed_decoder(decoder, stream[position:position + size]):
            _handle(handler, item)
        position, turn = position + size, turn + 1
    assert decoder.pending_bytes <= FRAME_LIMIT + 1
