"""ER7 codec: path access, delimiters, escapes, charsets, limits, errors, building."""

from __future__ import annotations

import pytest

from prostop_plugin.errors import HL7ParseError, InputError
from prostop_plugin.hl7.er7 import (
    Delimiters,
    MessageBuilder,
    ParseOptions,
    escape,
    parse,
    parse_path,
    parse_text,
    unescape,
)
from tests.corpus_location import CORPUS
from tests.paths import TESTS

needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is not laid out")
CASES = TESTS / "hl7_cases"

ORU = (
    "MSH|^~\\&|LAB|LABO|LGC|CAB|20201119101500||ORU^R01^ORU_R01|ID-1|P|2.5|||AL|NE|FRA|"
    "UNICODE UTF-8\r"
    "PID|||111^^^A&1.2&ISO^INS~DOS-1^^^CAB^PI||DUPONT^CAMILLE^^^^^L||19800115|F\r"
    "OBR|1||L1|94531-1^Panel^LN|||20201118093000\r"
    "OBX|1|CWE|94500-6^PCR^LN||10828004^positif^SCT|||A|||F\r"
    "OBX|2|NM|94745-7^Ct^LN||24.1|{Ct}|||||F\r"
)


def msg(text: str = ORU) -> bytes:
    return text.encode("utf-8")


# --- paths ------------------------------------------------------------------------------------


def test_paths_read_like_the_standard() -> None:
    m = parse(msg())
    assert m["PID-5.1"] == "DUPONT"
    assert m["PID-5"] == "DUPONT"  # stops above a leaf: the first child
    assert m["PID-5.2"] == "CAMILLE"
    assert m["PID-3(2).1"] == "DOS-1"
    assert m["PID-3[2].5"] == "PI"
    assert m["PID-3.4.2"] == "1.2"
    assert m["OBX[2]-3.1"] == "94745-7"
    assert m["OBX(2)-5"] == "24.1"
    assert m["OBX-5.2"] == "positif"
    assert m.message_type == "ORU^R01"
    assert m.control_id == "ID-1"
    assert m.version == "2.5"


def test_msh_numbering_follows_the_standard() -> None:
    m = parse(msg())
    assert m["MSH-1"] == "|"
    assert m["MSH-2"] == "^~\\&"
    assert m["MSH-3"] == "LAB"
    assert m["MSH-9.2"] == "R01"
    assert m["MSH-18"] == "UNICODE UTF-8"
    assert [r.raw for r in m.segments("MSH")[0].repetitions(2)] == ["^~\\&"]


def test_absent_values_read_empty_and_get_gives_default() -> None:
    m = parse(msg())
    assert m["PID-30"] == ""
    assert m["PID-5.9"] == ""
    assert m["PID-5(3).1"] == ""
    assert m["PID-5.1.2"] == ""
    assert m["ZZZ-1"] == ""
    assert m["OBX[9]-1"] == ""
    assert m.get("PID-30") is None
    assert m.get("PID-30", "x") == "x"
    assert m.get("PID-5.1") == "DUPONT"


def test_segments_iterate_in_order_and_by_name() -> None:
    m = parse(msg())
    assert [s.name for s in m] == ["MSH", "PID", "OBR", "OBX", "OBX"]
    assert len(m) == 5
    obx = m.segments("OBX")
    assert [s["3.1"] for s in obx] == ["94500-6", "94745-7"]
    assert obx[1][5] == "24.1"
    assert obx[1].get("6.1") == "{Ct}"
    assert m.segments("NTE") == []
    assert m.segment("OBX", 2) is obx[1]
    assert m.segment("OBX", 3) is None
    assert len(obx[0]) == 11


def test_repetitions_and_composites() -> None:
    pid = parse(msg()).segments("PID")[0]
    ids = pid.repetitions(3)
    assert [r[1] for r in ids] == ["111", "DOS-1"]
    assert ids[0].get(4, 2) == "1.2"
    assert ids[0].get(4, 9) == ""
    assert ids[0][9] == ""
    assert len(ids[0]) == 5
    assert pid.tree(3) == [[["111"], [""], [""], ["A", "1.2", "ISO"], ["INS"]],
                           [["DOS-1"], [""], [""], ["CAB"], ["PI"]]]
    assert pid.repetitions(20) == []
    assert pid.raw_field(3).startswith("111^")


@pytest.mark.parametrize("bad", ["PID", "PID-", "pid-1", "PID-0", "PID-1.0", "PID-x", "-1"])
def test_malformed_paths_are_value_errors(bad: str) -> None:
    with pytest.raises(ValueError):
        parse(msg())[bad]


def test_parse_path_forms() -> None:
    assert parse_path("OBX[2]-3(1).4.2") == ("OBX", 2, 3, 1, 4, 2)
    assert parse_path("3.4") == ("", 1, 3, 1, 4, 1)


# --- escapes ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("a\\F\\b", "a|b"),
        ("a\\S\\b\\T\\c\\R\\d\\E\\e", "a^b&c~d\\e"),
        ("l1\\.br\\l2", "l1\nl2"),
        ("\\.sp2\\x", "\n\nx"),
        ("\\XC3A9\\t\\XC3\\\\XA9\\", "été"),  # consecutive hex escapes decode together
        ("\\H\\POSITIF\\N\\", "POSITIF"),  # highlight on/off: formatting without text
        ("C:\\temp\\x", "C:\\temp\\x"),  # unknown escape: kept literally
        ("trailing\\", "trailing\\"),
        ("a\\F", "a\\F"),  # unterminated: literal
        ("\\X\\", "\\X\\"),
        ("\\XZZ\\", "\\XZZ\\"),
        ("\\X0\\", "\\X0\\"),  # odd number of hex digits
        ("\\.sp999\\", "\\.sp999\\"),  # bounded: no 999-line blow-up
        ("no escapes", "no escapes"),
    ],
)
def test_unescape(raw: str, expected: str) -> None:
    assert unescape(raw) == expected


def test_hex_escapes_decode_in_the_message_charset() -> None:
    assert unescape("\\XE9\\t\\XE9\\", charset="latin-1") == "été"
    assert unescape("\\XA4\\", charset="iso8859-15") == "€"
    # One Latin-1 byte is not UTF-8 text: kept as a hex escape rather than guessed.
    assert unescape("\\XE9\\t", charset="utf-8") == "\\XE9\\t"


def test_escape_covers_every_delimiter_and_line_breaks() -> None:
    assert escape("a|b^c&d~e\\f\r\ng") == "a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f\\X0D\\\\.br\\g"
    assert escape("plain") == "plain"
    custom = Delimiters("#", "$", "*", "!", "%")
    assert escape("a#b$c*d!e%f", custom) == "a!F!b!S!c!R!d!E!e!T!f"
    assert unescape(escape("a#b$c*d!e%f", custom), custom) == "a#b$c*d!e%f"


def test_escapes_in_a_message_use_its_own_delimiters() -> None:
    text = "MSH#$*!%#A#B\rPID#1#a!F!b$c!S!d!T!e\r"
    m = parse_text(text)
    assert m.delimiters == Delimiters("#", "$", "*", "!", "%")
    assert m["PID-2.1"] == "a#b"
    assert m["PID-2.2"] == "c$d%e"
    assert m["MSH-2"] == "$*!%"


def test_truncation_character_of_v27() -> None:
    m = parse_text("MSH|^~\\&#|A\rNTE|1||x\\P\\y#\r")
    assert m.delimiters.truncation == "#"
    assert m["NTE-3"] == "x#y#"
    assert escape("#", m.delimiters) == "\\P\\"


# --- segment separators and charsets ----------------------------------------------------------


@pytest.mark.parametrize("separator", ["\r", "\n", "\r\n"])
def test_segment_separators(separator: str) -> None:
    m = parse(msg(ORU.replace("\r", separator)))
    assert [s.name for s in m] == ["MSH", "PID", "OBR", "OBX", "OBX"]
    assert m.to_text() == ORU


def test_blank_lines_and_trailing_whitespace_lines_are_dropped() -> None:
    m = parse(msg(ORU.replace("\rPID", "\r\r\n  \rPID") + "\n\n"))
    assert [s.name for s in m] == ["MSH", "PID", "OBR", "OBX", "OBX"]


@needs_corpus
def test_latin1_corpus_file_decodes_by_msh18() -> None:
    m = parse((CORPUS / "oru_localcode_latin1.hl7").read_bytes())
    assert m.declared_charset == "8859/1"
    assert m.charset == "latin-1"
    assert m["OBX-3.1"] == "COVPCR"
    assert m["OBX-3.2"] == "SARS-CoV-2 PCR (écouvillon nasopharyngé)"
    assert m["OBX-3.4"] == "94309-2"
    assert m["OBX-3.6"] == "LN"
    assert m["OBX-5"] == "POSITIF"
    assert m["OBX-7"] == "Négatif"  # reference range
    assert m["PID-11.1"] == "3 PLACE DU MARCHÉ"
    assert m["PID-11.3"] == "PÉRIGUEUX"


def test_latin9_euro_and_hex_escape_in_message_charset() -> None:
    m = parse((CASES / "oru_latin9_escapes.hl7").read_bytes())
    assert m.charset == "iso8859-15"
    assert m["PID-5.1"] == "LÉONARD"  # \XC9\ is É in 8859/15
    assert m["PID-5.2"] == "Zoé"
    assert m["PID-3.1"] == "DOS-9|1"
    note = m.segments("OBX")[0].repetitions(5)
    assert note[0].text() == "Frais: 5 €\nRatio 1^2 & co|pie"
    assert note[1].text() == "ligne 2 \\ fin"


def test_utf8_declared_and_undeclared() -> None:
    text = ORU.replace("DUPONT", "DÉSIRÉ")
    assert parse(text.encode("utf-8"))["PID-5.1"] == "DÉSIRÉ"
    undeclared = text.replace("|UNICODE UTF-8", "")
    m = parse(undeclared.encode("utf-8"))
    assert (m.charset, m.declared_charset) == ("utf-8", None)
    assert m["PID-5.1"] == "DÉSIRÉ"


def test_no_msh18_and_not_utf8_uses_the_fallback() -> None:
    data = ORU.replace("|UNICODE UTF-8", "").replace("DUPONT", "MÜLLER").encode("latin-1")
    assert parse(data).charset == "latin-1"
    assert parse(data)["PID-5.1"] == "MÜLLER"
    euro = ORU.replace("|UNICODE UTF-8", "").replace("DUPONT", "€").encode("cp1252")
    assert parse(euro, ParseOptions(fallback_charset="cp1252"))["PID-5.1"] == "€"
    with pytest.raises(ValueError):
        ParseOptions(fallback_charset="utf-16")


@pytest.mark.parametrize("label", ["UNICODE", "UTF-8", "unicode utf-8", "ISO-8859-1", "ASCII"])
def test_charset_spellings_are_tolerated(label: str) -> None:
    m = parse(msg(ORU.replace("UNICODE UTF-8", label)))
    assert m.declared_charset == label
    assert m["PID-5.1"] == "DUPONT"


def test_declared_charset_is_never_overridden() -> None:
    latin = ORU.replace("DUPONT", "DÉSIRÉ").encode("latin-1")  # but MSH-18 says UTF-8
    with pytest.raises(HL7ParseError) as caught:
        parse(latin)
    assert "UNICODE UTF-8" in caught.value.what
    assert caught.value.position == latin.index("DÉSIRÉ".encode("latin-1")) + 1
    ascii_declared = ORU.replace("UNICODE UTF-8", "ASCII").replace("DUPONT", "DÉ")
    with pytest.raises(HL7ParseError, match="ASCII"):
        parse(ascii_declared.encode("utf-8"))


def test_unknown_charset_is_a_typed_error_at_msh18() -> None:
    data = msg(ORU.replace("UNICODE UTF-8", "KOI8-R"))
    with pytest.raises(HL7ParseError, match="KOI8-R") as caught:
        parse(data)
    assert caught.value.position == data.index(b"KOI8-R")


# --- structural errors and limits -------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "position", "words"),
    [
        (b"", 0, "empty"),
        (b"PID|1\r", 0, "MSH"),
        (b"MSH|^~", 6, "truncated"),
        (b"MSH|^~\\|A\r", 3, "4 encoding characters"),
        (b"MSH|^~\\^|A\r", 3, "not all different"),
        (b"MSHA^~\\&|A\r", 3, "cannot be a delimiter"),
        (b"MSH|^~\\&|A\rPID|1\rpid|2\r", 17, "segment name"),
        (b"MSH|^~\\&|A\rPID^1\r", 11, "field separator"),
        (b"MSH|^~\\&|A\rMSH|^~\\&|B\r", 11, "several messages"),
        (b"MSH|^~\\&|A\rBHS|^~\\&|B\r", 11, "batch"),
    ],
)
def test_malformed_messages_raise_with_position(data: bytes, position: int, words: str) -> None:
    with pytest.raises(HL7ParseError, match=words) as caught:
        parse(data)
    assert caught.value.position == position
    assert caught.value.fix


def test_error_positions_are_byte_offsets_after_multibyte_text() -> None:
    data = "MSH|^~\\&|A|ÉÉÉ\r\nPID|1\r\nbad\r\n".encode()
    with pytest.raises(HL7ParseError) as caught:
        parse(data)
    assert caught.value.position == data.index(b"bad")


def test_size_limits_are_configurable() -> None:
    with pytest.raises(HL7ParseError, match="byte limit"):
        parse(msg(), ParseOptions(max_bytes=50))
    with pytest.raises(HL7ParseError, match="segments") as caught:
        parse(msg(), ParseOptions(max_segments=3))
    assert caught.value.position == msg().index(b"OBX|1")
    assert len(parse(msg(), ParseOptions(max_segments=5))) == 5


def test_parse_accepts_only_bytes() -> None:
    with pytest.raises(InputError):
        parse(ORU)  # type: ignore[arg-type]


# --- building ---------------------------------------------------------------------------------


def test_builder_escapes_every_value_and_trims_empty_tails() -> None:
    b = MessageBuilder()
    b.add("MSH").set(3, "PROSTOP").set("9.1", "ORU").set("9.2", "R01").set(10, "id|1")
    b.add("PID").set("3.1", "A^B").set("3(2).4.2", "1.2&3").set("5.1", "D'ÉTÉ~X")
    b.add("OBX").set(5, "ligne 1\nligne 2 \\ fin")
    text = b.to_text()
    assert text.split("\r")[1] == "PID|||A\\S\\B~^^^&1.2\\T\\3||D'ÉTÉ\\R\\X"
    assert text.split("\r")[2] == "OBX|||||ligne 1\\.br\\ligne 2 \\E\\ fin"
    assert text.endswith("\r")
    m = b.to_message()
    assert m["MSH-10"] == "id|1"
    assert m["MSH-18"] == "UNICODE UTF-8"
    assert m["PID-3.1"] == "A^B"
    assert m["PID-3(2).4.2"] == "1.2&3"
    assert m["PID-5.1"] == "D'ÉTÉ~X"
    assert m["OBX-5"] == "ligne 1\nligne 2 \\ fin"


def test_builder_set_tree_copies_structure_across_delimiters() -> None:
    source = parse(msg()).segments("PID")[0]
    b = MessageBuilder(Delimiters("#", "$", "*", "!", "%"), charset="8859/1")
    b.add("MSH").set("9.1", "ADT")
    b.add("PID").set_tree(3, source.tree(3))
    m = parse(b.to_bytes())
    assert m.charset == "latin-1"
    assert m["PID-3(1).4.2"] == "1.2"
    assert m["PID-3(2).1"] == "DOS-1"
    assert b.to_text().split("\r")[1] == "PID###111$$$A%1.2%ISO$INS*DOS-1$$$CAB$PI"


def test_builder_rejects_what_cannot_be_written() -> None:
    b = MessageBuilder(charset="8859/1")
    b.add("MSH").set(10, "€")
    with pytest.raises(InputError, match="8859/1"):
        b.to_bytes()
    assert b"?" in b.to_bytes(errors="replace")
    with pytest.raises(ValueError):
        b.segments[0].set(2, "x")
    with pytest.raises(ValueError):
        b.add("pid")
    with pytest.raises(ValueError):
        b.segments[0].set("PID-3", "x")
    with pytest.raises(ValueError):
        MessageBuilder().to_text()
