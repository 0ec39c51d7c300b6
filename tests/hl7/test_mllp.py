"""MLLP framing: incremental decoding, tolerance, typed errors with resynchronisation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prostop_plugin.errors import InputError
from prostop_plugin.hl7.mllp import MLLPDecoder, MLLPFramingError, encode_frame
from tests.fixtures.fuzzing import fuzz

A = b"MSH|^~\\&|A\rPID|1\r"
B = b"MSH|^~\\&|B\rPID|2\r"


def test_encode_and_decode_one_frame() -> None:
    assert encode_frame(A) == b"\x0b" + A + b"\x1c\r"
    decoder = MLLPDecoder()
    assert decoder.feed(encode_frame(A)) == [A]
    assert not decoder.in_frame and decoder.pending_bytes == 0


def test_several_frames_in_one_chunk_with_whitespace_between() -> None:
    stream = encode_frame(A) + b"\r\n" + encode_frame(B) + b"\n"
    assert MLLPDecoder().feed(stream) == [A, B]


def test_end_block_without_carriage_return_is_tolerated() -> None:
    stream = b"\x0b" + A + b"\x1c" + b"\x0b" + B + b"\x1c"
    assert MLLPDecoder().feed(stream) == [A, B]


@fuzz(100)
@given(st.lists(st.binary(max_size=60).filter(lambda b: b"\x0b" not in b and b"\x1c" not in b),
                min_size=1, max_size=5),
       st.lists(st.integers(1, 17), min_size=1, max_size=30))
def test_any_chunking_gives_the_same_frames(messages: list[bytes], sizes: list[int]) -> None:
    stream = b"".join(encode_frame(m) for m in messages)
    decoder = MLLPDecoder()
    frames: list[bytes] = []
    position, index = 0, 0
    while position < len(stream):
        size = sizes[index % len(sizes)]
        frames += decoder.feed(stream[position:position + size])
        position, index = position + size, index + 1
    assert frames == messages
    assert not decoder.in_frame


def test_partial_frame_is_held_until_its_end() -> None:
    decoder = MLLPDecoder()
    assert decoder.feed(b"\x0b" + A[:5]) == []
    assert decoder.in_frame and decoder.pending_bytes == 5
    assert decoder.feed(A[5:] + b"\x1c") == [A]
    assert decoder.feed(b"\r") == []
    assert not decoder.in_frame


def test_junk_between_frames_is_a_typed_error_and_decoding_resumes() -> None:
    decoder = MLLPDecoder()
    stream = encode_frame(A) + b" GET / HTTP/1.1\r\n" + encode_frame(B)
    with pytest.raises(MLLPFramingError) as caught:
        decoder.feed(stream)
    error = caught.value
    assert error.frames == [A]  # completed before the junk: not lost
    assert error.offset == len(encode_frame(A)) + 1
    assert isinstance(error, InputError)
    assert decoder.feed(b"") == [B]


def test_junk_without_any_frame_start() -> None:
    decoder = MLLPDecoder()
    with pytest.raises(MLLPFramingError, match="outside any MLLP frame"):
        decoder.feed(b"hello")
    assert decoder.pending_bytes == 0
    assert decoder.feed(encode_frame(A)) == [A]


def test_oversize_frame_is_dropped_and_the_next_one_read() -> None:
    decoder = MLLPDecoder(max_frame_bytes=20)
    big = b"MSH|" + b"x" * 100
    with pytest.raises(MLLPFramingError, match="20-byte limit") as caught:
        decoder.feed(encode_frame(big) + encode_frame(b"MSH|small"))
    assert caught.value.frames == []
    assert decoder.feed(b"") == [b"MSH|small"]


def test_oversize_frame_across_chunks_never_holds_more_than_the_limit() -> None:
    decoder = MLLPDecoder(max_frame_bytes=50)
    assert decoder.feed(b"\x0b" + b"x" * 30) == []
    with pytest.raises(MLLPFramingError):
        decoder.feed(b"x" * 30)
    for _ in range(100):
        assert decoder.feed(b"y" * 1000) == []
        assert decoder.pending_bytes == 0
    assert decoder.feed(b"\x1c\r" + encode_frame(A)) == [A]


def test_frame_restarted_before_its_end() -> None:
    decoder = MLLPDecoder()
    with pytest.raises(MLLPFramingError, match="truncated"):
        decoder.feed(b"\x0b" + A[:8] + encode_frame(B))
    assert decoder.feed(b"") == [B]


@fuzz(100)
@given(st.lists(st.binary(max_size=40), max_size=20))
def test_random_streams_give_frames_or_typed_errors(chunks: list[bytes]) -> None:
    decoder = MLLPDecoder(max_frame_bytes=64)
    for chunk in chunks:
        data = chunk
        for _ in range(len(chunk) + 2):  # each error consumes input: this terminates
            try:
                for frame in decoder.feed(data):
                    assert len(frame) <= 64 and b"\x1c" not in frame
                break
            except MLLPFramingError:
                data = b""
        assert decoder.pending_bytes <= 64 + len(chunk)


def test_encoder_refuses_framing_bytes_inside_a_message() -> None:
    with pytest.raises(InputError):
        encode_frame(b"MSH|\x1c|")
    with pytest.raises(ValueError):
        MLLPDecoder(max_frame_bytes=0)


def test_framing_errors_say_which_kind() -> None:
    from prostop_plugin.hl7.mllp import MLLPDecoder, MLLPFramingError, encode_frame

    cases = {
        "junk": b"garbage" + encode_frame(b"MSH|^~\\&|A"),
        "truncated": b"\x0bMSH|^~\\&|A" + encode_frame(b"MSH|^~\\&|B"),
        "oversize": encode_frame(b"MSH|" + b"X" * 100),
    }
    for kind, stream in cases.items():
        decoder = MLLPDecoder(max_frame_bytes=64)
        with pytest.raises(MLLPFramingError) as error:
            decoder.feed(stream)
        assert error.value.kind == kind
