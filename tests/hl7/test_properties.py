"""Property tests: escaping and whole messages round-trip; random and mutated bytes only ever
give typed errors, in bounded time."""

from __future__ import annotations

import contextlib
import time
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prostop_plugin.errors import HL7ParseError, InputError
from prostop_plugin.hl7.er7 import (
    HL7_CHARSETS,
    Delimiters,
    MessageBuilder,
    ParseOptions,
    escape,
    parse,
    unescape,
)
from prostop_plugin.hl7.mapping import map_message
from prostop_plugin.hl7.reader import read_hl7
from tests.corpus_location import CORPUS as CORPUS_DIR
from tests.fixtures.fuzzing import fuzz
from tests.paths import TESTS

CORPUS = sorted(CORPUS_DIR.glob("*.hl7"))  # empty when ../shared is not laid out
CASES = sorted((TESTS / "hl7_cases").glob("*.hl7"))
SAMPLES = [p.read_bytes() for p in CORPUS + CASES]

PUNCTUATION = "|^~\\&#$*!%@/+=:;,?<>{}[]"


@st.composite
def delimiters(draw: st.DrawFn) -> Delimiters:
    chars = draw(st.permutations(PUNCTUATION).map(lambda p: "".join(p[:6])))
    with_truncation = draw(st.booleans())
    return Delimiters(chars[0], chars[1], chars[2], chars[3], chars[4],
                      chars[5] if with_truncation else None)


ACCENTS = {"utf-8": "é€Ü", "latin-1": "éÜ", "iso8859-15": "é€Ü"}


def alphabet(charset: str) -> st.SearchStrategy[str]:
    """Characters the charset can hold, weighted towards delimiters, line breaks and accents."""
    codec = HL7_CHARSETS[charset]
    if codec == "utf-8":
        anything = st.characters(codec="utf-8")  # any scalar value, no surrogates
    else:
        anything = st.sampled_from([bytes([i]).decode(codec) for i in range(256)])
    return st.one_of(st.sampled_from(PUNCTUATION + "\r\n " + ACCENTS[codec]), anything)


def values(charset: str) -> st.SearchStrategy[str]:
    return st.text(alphabet(charset), max_size=12)


@given(st.text(), delimiters())
@settings(max_examples=150)
def test_escape_then_unescape_is_identity(value: str, d: Delimiters) -> None:
    escaped = escape(value, d)
    for char in (d.field, d.component, d.repetition, d.subcomponent, "\r", "\n"):
        assert char not in escaped
    assert unescape(escaped, d) == value


Tree = list[list[list[str]]]


@st.composite
def messages(draw: st.DrawFn) -> tuple[Delimiters, str, list[tuple[str, list[Tree]]]]:
    d = draw(delimiters())
    charset = draw(st.sampled_from(["UNICODE UTF-8", "8859/1", "8859/15"]))
    leaf = values(charset)
    tree = st.lists(st.lists(st.lists(leaf, min_size=1, max_size=3), min_size=1, max_size=3),
                    max_size=3)
    name = st.sampled_from(["PID", "OBR", "OBX", "NTE", "DG1", "ZFR"])
    segments = draw(st.lists(st.tuples(name, st.lists(tree, max_size=6)), min_size=1,
                             max_size=5))
    return d, charset, segments


@given(messages())
@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
def test_built_messages_parse_back_to_the_same_values(
    case: tuple[Delimiters, str, list[tuple[str, list[Tree]]]],
) -> None:
    d, charset, segments = case
    builder = MessageBuilder(d, charset)
    builder.add("MSH").set(3, "APP|1").set("9.1", "ORU").set("9.2", "R01")
    for name, fields in segments:
        built = builder.add(name)
        for number, tree in enumerate(fields, start=1):
            built.set_tree(number, tree)
    data = builder.to_bytes()
    msg = parse(data)
    assert msg.delimiters == d
    assert msg["MSH-18"] == charset
    assert msg["MSH-3"] == "APP|1"
    parsed = msg.segments()[1:]
    assert [s.name for s in parsed] == [name for name, _ in segments]
    for seg, (_, fields) in zip(parsed, segments, strict=True):
        for number, tree in enumerate(fields, start=1):
            for r, rep in enumerate(tree, start=1):
                for c, comp in enumerate(rep, start=1):
                    for s, value in enumerate(comp, start=1):
                        assert seg.value(number, r, c, s) == value
    # serialising the parsed message gives the same bytes back
    assert parse(msg.to_bytes()).to_text() == msg.to_text() == builder.to_text()


# --- fuzzing ----------------------------------------------------------------------------------

LIMITS = ParseOptions(max_bytes=64 * 1024, max_segments=500)


def _only_typed_errors(data: bytes) -> None:
    start = time.perf_counter()
    try:
        msg = parse(data, LIMITS)
        msg.segments()
        for seg in msg:
            for number in range(len(seg) + 1):
                seg.tree(number)
        map_message(msg, adapter="fuzz", raw=data)
    except (HL7ParseError, InputError):
        pass
    with contextlib.suppress(HL7ParseError, InputError):
        read_hl7(data, "fuzz.hl7", "fuzz")
    assert time.perf_counter() - start < 2.0


@fuzz(150)
@given(st.binary(max_size=600))
def test_random_bytes_give_typed_errors_only(data: bytes) -> None:
    _only_typed_errors(data)


@fuzz(150)
@given(st.binary(max_size=300).map(lambda b: b"MSH|^~\\&|" + b))
def test_random_bytes_after_a_header_give_typed_errors_only(data: bytes) -> None:
    _only_typed_errors(data)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SAMPLES)))
    for _ in range(draw(st.integers(1, 8))):
        position = draw(st.integers(0, max(0, len(data) - 1)))
        action = draw(st.sampled_from(["flip", "insert", "delete", "duplicate"]))
        if action == "flip" and data:
            data[position] = draw(st.integers(0, 255))
        elif action == "insert":
            data[position:position] = draw(st.sampled_from(
                [b"|", b"^", b"~", b"\\", b"&", b"\r", b"\n", b"\xc3", b"\xff", b"\\X", b"\x0b",
                 b"\x1c", b"MSH|^~\\&|", b"BTS|9\r", b"99999999999999", b"\\.sp99\\"]))
        elif action == "delete":
            del data[position:position + draw(st.integers(1, 40))]
        else:
            data[position:position] = data[position:position + draw(st.integers(1, 200))]
    return bytes(data)


@fuzz(300)
@given(mutated())
def test_mutated_corpus_messages_give_typed_errors_only(data: bytes) -> None:
    _only_typed_errors(data)


def test_pathological_inputs_are_bounded() -> None:
    """Time and memory stay linear in the input: many tiny segments, expanding escapes."""
    many = b"MSH|^~\\&|A\r" + b"NTE|1|x^y\r" * 40_000
    escapes = b"MSH|^~\\&|A\rNTE|1||" + b"\\.sp99\\" * 40_000 + b"\r"
    start = time.perf_counter()
    for data in (many, escapes):
        tracemalloc.start()
        try:
            msg = parse(data)
            leaves = sum(len(seg.tree(2)) + len(seg.tree(3)) for seg in msg)
        finally:
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
        assert leaves > 0
        assert peak < 100 * len(data)  # Python objects for every leaf: tens of bytes each
    assert len(parse(escapes)["NTE-3"]) == 99 * 40_000  # \.sp99\ is capped at 99 lines
    with pytest.raises(HL7ParseError, match="segments"):
        parse(many, ParseOptions(max_segments=10_000))
    assert time.perf_counter() - start < 10
