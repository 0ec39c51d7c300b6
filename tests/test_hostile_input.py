"""Hostile input to the JSON event reader and the reader registry: one-line typed errors only.

Fuzzed (fixed seed, ``make fuzz`` for a larger budget): the JSON event reader on random,
mutated and structurally damaged events, and :func:`read_bytes` on every format. Through the
command line: nesting no parser can follow and numbers Python refuses to read give exit 2 and
one line, never a traceback.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prostop_plugin.cli import main
from prostop_plugin.errors import InputError, ProstopError
from prostop_plugin.hl7.cda import read_cda
from prostop_plugin.readers import read_bytes, read_json_events
from tests.corpus_location import CORPUS
from tests.fixtures.fuzzing import fuzz, json_paths, mutate, only_typed_errors

EVENTS = Path(__file__).parent / "events"
JSON_SEEDS = [p.read_bytes() for p in sorted(EVENTS.glob("*.json")) if p.name != "expected.json"]
FILE_SEEDS = [
    *(p.read_bytes() for p in sorted(CORPUS.glob("*")) if p.name != "expected.json"),
    *(p.read_bytes() for p in sorted((Path(__file__).parent / "file_cases").glob("*"))),
    *(p.read_bytes() for p in sorted((Path(__file__).parent / "hl7_cases").glob("*.hl7"))),
    *JSON_SEEDS[:5],
]
DEEP = b"[" * 100_000
LONG_NUMBER = b'{"source": {"adapter": "x"}, "n": ' + b"9" * 5000 + b"}"


def _read_json(data: bytes) -> Any:
    return read_json_events(data, "fuzz.json")


def _read_any(data: bytes) -> Any:
    return read_bytes(data, "fuzz.bin")


# -- the JSON event reader ---------------------------------------------------------------------


@pytest.mark.parametrize(("data", "what"), [
    (DEEP, "nested too deeply"),
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    (b'{"a":' * 50_000 + b"1" + b"}" * 50_000, "nested too deeply"),
    (LONG_NUMBER, "a number of 5000 digits, over the 4300-digit limit"),
    (b'[\n  {"n": -' + b"1" * 4301 + b"}]", "a number of 4301 digits"),
])
def test_unreadable_json_is_a_one_line_input_error(data: bytes, what: str) -> None:
    with pytest.raises(InputError, match=what) as caught:
        read_json_events(data, "event.json")
    message = str(caught.value)
    assert message.startswith("event.json") and len(message.splitlines()) == 1
    assert caught.value.fix


def test_a_long_number_is_located() -> None:
    with pytest.raises(InputError) as caught:
        read_json_events(b'[\n  {"n": -' + b"1" * 4301 + b"}]", "event.json")
    assert caught.value.where == "event.json, line 2 column 10"


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                  max_size=4),
    max_leaves=12,
)


@fuzz(150)
@given(st.sampled_from(JSON_SEEDS), st.data())
def test_events_with_any_value_anywhere_give_events_or_input_errors(
    seed: bytes, data: st.DataObject
) -> None:
    event = json.loads(seed)
    path = data.draw(st.sampled_from(json_paths(event)[1:]))
    target = event
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = data.draw(JSON_VALUES)
    only_typed_errors(_read_json, json.dumps(event).encode())


@fuzz(150)
@given(st.sampled_from(JSON_SEEDS), st.lists(st.tuples(st.integers(0, 5000),
                                                       st.binary(max_size=6)), max_size=6),
       st.integers(0, 5000))
def test_mutated_events_give_events_or_input_errors(
    seed: bytes, edits: list[tuple[int, bytes]], cut: int
) -> None:
    only_typed_errors(_read_json, mutate(seed, edits, cut))


@fuzz(150)
@given(st.lists(st.sampled_from([
    b"[", b"]", b"{", b"}", b",", b":", b'"', b'"source"', b'"evidence"', b'"kind"',
    b'"lab_result"', b"null", b"true", b"NaN", b"-Infinity", b"1e999", b"-0", b"9" * 4400,
    b"\\u0000", b"\\ud800", b"\xff", b"\xef\xbb\xbf", b"[" * 3000, b"{\"a\":" * 3000, b" ",
]), max_size=40))
def test_token_soup_gives_events_or_input_errors(tokens: list[bytes]) -> None:
    only_typed_errors(_read_json, b"".join(tokens))


@fuzz(100)
@given(st.binary(max_size=400).map(lambda b: b"[" + b))
def test_random_bytes_after_a_bracket_give_events_or_input_errors(data: bytes) -> None:
    only_typed_errors(_read_json, data)


# -- the reader registry: any bytes, any format ---------------------------------------------------


@fuzz(150)
@given(st.sampled_from(FILE_SEEDS), st.lists(st.tuples(st.integers(0, 20_000),
                                                       st.binary(max_size=8)), max_size=6),
       st.integers(0, 20_000))
def test_mutated_files_of_every_format_give_events_or_input_errors(
    seed: bytes, edits: list[tuple[int, bytes]], cut: int
) -> None:
    only_typed_errors(_read_any, mutate(seed, edits, cut))


@fuzz(100)
@given(st.sampled_from([b"", b"{", b"[", b"MSH|^~\\&|", b"<", b"H|~^\\&|", b"****LAB****\r\n"]),
       st.binary(max_size=500))
def test_random_bytes_behind_any_format_signature_give_events_or_input_errors(
    head: bytes, tail: bytes
) -> None:
    only_typed_errors(_read_any, head + tail)


# -- the command line: exit 2, one line, no traceback ------------------------------------------


@pytest.fixture
def bare(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder with no configuration: the commands read their files before anything else."""
    for name in list(os.environ):
        if name.startswith("PROSTOP_") and name != "PROSTOP_DISABLE_PLUGIN_AUTOLOAD":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("command", ["check", "submit"])
@pytest.mark.parametrize(("content", "what", "fix"), [
    (DEEP, "JSON nested too deeply to read", "see 'prostop schema'"),
    (LONG_NUMBER, "line 1 column 35: a number of 5000 digits, over the 4300-digit limit",
     "check the export"),
])
def test_unreadable_json_exits_2_with_one_line(
    bare: Path, capsys: pytest.CaptureFixture[str], command: str, content: bytes, what: str,
    fix: str,
) -> None:
    path = bare / "event.json"
    path.write_bytes(content)
    code = main([command, str(path)])
    out = capsys.readouterr()
    assert code == 2 and "Traceback" not in out.out + out.err
    if command == "check":
        assert out.out == ""
    else:  # a replay: its summary counts the file among the unreadable ones
        assert "Illisibles" in out.out and out.out.count(what) == 1
    [line] = [line for line in out.err.splitlines() if line.startswith(f"prostop: {path}")]
    assert what in line and fix in line


# -- one line, whatever the parser said ----------------------------------------------------------


def test_one_line_has_no_line_break_whatever_the_parts_hold() -> None:
    error = ProstopError("first\nsecond \r\n", where="a\x1cb", fix="c\u2028d\n")
    assert error.one_line() == str(error) == "a b: first second — c d"
    assert ProstopError("plain", where="x").one_line() == "x: plain"


@pytest.mark.parametrize("data", [
    b'<ClinicalDocument xmlns="urn:hl7-org:v3">\x00</ClinicalDocument>',  # lxml: "…range\n"
    b'<ClinicalDocument xmlns="urn:hl7-org:v3"><![CDATA[ </ClinicalDocument>',
])
def test_an_xml_parser_message_with_a_line_break_stays_one_line(
    data: bytes, bare: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(InputError) as caught:
        read_cda(data, "note.xml", "file")
    assert "\n" in caught.value.what  # lxml's own message: the case this guards
    assert len(str(caught.value).splitlines()) == 1
    path = bare / "note.xml"
    path.write_bytes(data)
    assert main(["check", str(path)]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert "not well-formed XML" in line and "resend" in line
