"""Differential tests against python-hl7 (``import hl7``, a dev dependency only).

Every leaf python-hl7 finds must read the same through our codec, wherever python-hl7 is
right. Where it is wrong, the test below says how, and checks that we are right instead:

- it splits segments on ``\\r`` only: ``\\n`` and ``\\r\\n`` files merge segments (we normalise
  the input we give it to ``\\r``);
- it strips whitespace around the whole message: a trailing space in the last field is lost;
- it does not read MSH-18: bytes are decoded with the caller's encoding (UTF-8 by default), so
  the corpus's Latin-1 file fails unless told;
- its unescaping turns ``\\.br\\`` into ``\\r`` (a segment separator inside a value; we give
  ``\\n``), ``\\H\\``/``\\N\\`` into ``_``, decodes ``\\Xhh\\`` byte by byte as Latin-1 whatever the
  charset (``\\XC3A9\\`` → ``Ã©``), and drops unknown or unterminated escapes (we keep them).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hl7
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prostop_plugin.hl7.er7 import Message, MessageBuilder, parse
from prostop_plugin.hl7.reader import split_messages
from tests.corpus_location import CORPUS as CORPUS_DIR
from tests.paths import TESTS

CORPUS = sorted(CORPUS_DIR.glob("*.hl7"))  # empty when ../shared is not laid out
CASES = sorted((TESTS / "hl7_cases").glob("*.hl7"))

# Escapes python-hl7 decodes correctly: the delimiter escapes.
_AGREED_ESCAPES = {"F", "S", "T", "R", "E"}


def _leaves(node: Any, path: tuple[int, ...] = ()) -> Iterator[tuple[tuple[int, ...], str]]:
    """python-hl7's tree as (position, raw leaf); a leaf above the subcomponent level stands
    for position 1 of the levels below it."""
    if isinstance(node, str):
        yield path, node
        return
    for index, child in enumerate(node, start=1):
        yield from _leaves(child, (*path, index))


def _python_hl7_is_right(leaf: str) -> bool:
    """True when python-hl7's unescaping of this leaf is correct (see the module docstring)."""
    parts = leaf.split("\\")
    if len(parts) % 2 == 0:  # an unterminated escape: python-hl7 drops it
        return False
    return all(seq in _AGREED_ESCAPES for seq in parts[1::2])


def compare(ours: Message, theirs: Any) -> int:
    """Check every python-hl7 leaf against our value at the same position; count the leaves."""
    segments = ours.segments()
    assert len(theirs) == len(segments)
    checked = 0
    for their_seg, our_seg in zip(theirs, segments, strict=True):
        assert str(their_seg[0]) == our_seg.name
        for number in range(1, len(their_seg)):
            for path, leaf in _leaves(their_seg[number]):
                rep, comp, sub = (*path, 1, 1, 1)[:3]
                ours_value = our_seg.value(number, rep, comp, sub)
                if our_seg.name == "MSH" and number <= 2:
                    assert ours_value == leaf
                elif _python_hl7_is_right(leaf):
                    assert ours_value == theirs.unescape(leaf), (our_seg.name, number, path)
                checked += 1
    return checked


@pytest.mark.parametrize("path", CORPUS + CASES, ids=lambda p: p.name)
def test_same_values_as_python_hl7_on_the_corpus(path: Path) -> None:
    for raw in split_messages(path.read_bytes()):  # batches: message by message
        ours = parse(raw.data)
        # python-hl7 needs \r separators and the charset from us (it reads neither).
        text = raw.data.decode(ours.charset).replace("\r\n", "\r").replace("\n", "\r")
        assert compare(ours, hl7.parse(text)) > 20


def test_python_hl7_is_wrong_on_line_endings_whitespace_and_charset() -> None:
    crlf = b"MSH|^~\\&|A|B\r\nPID|||ID1||NOM \r\n"
    theirs = hl7.parse(crlf)
    assert len(theirs) == 2 and str(theirs[1][0]) == "\nPID"  # segment name polluted
    assert parse(crlf).segments("PID")[0]["5"] == "NOM "  # ours: separators read, space kept
    assert hl7.parse(crlf.replace(b"\r\n", b"\r")).extract_field("PID", 1, 5) == "NOM"
    latin1 = "MSH|^~\\&|A|B||||||||2.5||||||8859/1\rOBX|1|ST|X||Négatif\r".encode("latin-1")
    with pytest.raises(UnicodeDecodeError):
        hl7.parse(latin1)
    assert parse(latin1)["OBX-5"] == "Négatif"


@pytest.mark.parametrize(
    ("raw", "theirs", "ours"),
    [
        ("a\\.br\\b", "a\rb", "a\nb"),
        ("\\XC3A9\\", "Ã©", "é"),
        ("\\H\\POSITIF\\N\\", "_POSITIF_", "POSITIF"),
        ("p\\Q\\q", "pq", "p\\Q\\q"),
        ("t\\", "t", "t\\"),
    ],
)
def test_python_hl7_unescaping_errors(raw: str, theirs: str, ours: str) -> None:
    message = f"MSH|^~\\&|A|B||||||||2.5|||||UNICODE UTF-8\rNTE|1||{raw}|end\r"
    assert hl7.parse(message).extract_field("NTE", 1, 3) == theirs
    assert parse(message.encode())["NTE-3"] == ours


LEAF = st.text(st.one_of(st.sampled_from("|^~\\&é€ xyz"), st.characters(
    codec="utf-8", exclude_characters="\r\n")), max_size=8)
TREE = st.lists(st.lists(st.lists(LEAF, min_size=1, max_size=3), min_size=1, max_size=3),
                max_size=3)


@given(st.lists(st.tuples(st.sampled_from(["PID", "OBX", "NTE"]), st.lists(TREE, max_size=6)),
                min_size=1, max_size=4))
@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
def test_same_values_as_python_hl7_on_generated_messages(
    segments: list[tuple[str, list[list[list[list[str]]]]]],
) -> None:
    builder = MessageBuilder()
    builder.add("MSH").set(3, "A").set("9.1", "ORU").set("9.2", "R01")
    for name, fields in segments:
        seg = builder.add(name)
        for number, tree in enumerate(fields, start=1):
            seg.set_tree(number, tree)
    builder.add("ZZZ").set(1, "end")  # python-hl7 strips the message's trailing whitespace
    data = builder.to_bytes()
    ours = parse(data)
    compare(ours, hl7.parse(data.decode("utf-8")))
