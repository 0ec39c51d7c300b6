"""The accept ACK rendered from a template of its header is byte for byte the ACK the builder
gives, whatever the header holds (escapes, delimiters, empty fields, charsets), the first time
a header is seen and every time after."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prostop_plugin.errors import InputError
from prostop_plugin.hl7.ack import ack_code, build_ack
from prostop_plugin.hl7.er7 import Message, MessageBuilder, parse
from prostop_plugin.values import PARIS

NOW = datetime(2020, 11, 19, 9, 30, tzinfo=UTC)
PUNCTUATION = "|^~\\&#$*!%@/+=:;,?<>{}[]-"


def reference_ack(original: Message, control_id: str, timestamp: str) -> bytes:
    """The accept ACK built field by field with the builder (what build_ack always did)."""
    builder = MessageBuilder(original.delimiters, original.declared_charset,
                             encoding=original.charset)
    src = original.segments()[0]
    msh = builder.add("MSH")
    msh.set_tree(3, src.tree(5)).set_tree(4, src.tree(6))
    msh.set_tree(5, src.tree(3)).set_tree(6, src.tree(4))
    msh.set(7, timestamp).set("9.1", "ACK").set("9.2", original["MSH-9.2"])
    msh.set("9.3", "ACK").set(10, control_id)
    msh.set_tree(11, src.tree(11)).set_tree(12, src.tree(12)).set_tree(17, src.tree(17))
    builder.add("MSA").set(1, ack_code(original, "accept")).set(2, original.control_id)
    return builder.to_bytes(errors="replace")


def header(delims: str, fields: list[str], charset: str) -> bytes:
    fs, enc = delims[0], delims[1:5]
    values = [*fields[:6], "ORU" + enc[0] + fields[6], fields[7], *fields[8:], charset]
    text = "MSH" + fs + enc + fs + fs.join(values) + "\rPID" + fs + fs + "X\r"
    return text.encode("latin-1" if charset == "8859/1" else "utf-8", errors="replace")


# what senders put in header fields: words, components, escapes, stand-in look-alikes
piece = st.sampled_from(
    ["LABO", "CABINET-DURAND", "", " ", "2.5", "P", "AL", "NE", "ER", "FRA", "é", "ü€",
     "\\T\\", "\\S\\", "\\E\\", "\\X41\\", "\\H\\", "\ue000T\ue001", "\ue000A\ue001", "1.2.3"]
)
joiner = st.sampled_from(["", "^", "&", "~", "^^", "&&"])
field_text = st.lists(st.tuples(piece, joiner), max_size=4).map(
    lambda parts: "".join(p + j for p, j in parts))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.permutations(PUNCTUATION).map(lambda p: "".join(p[:5])),
    st.lists(field_text, min_size=14, max_size=14),
    st.sampled_from(["UNICODE UTF-8", "8859/1", ""]),
    st.sampled_from(["ACK-1", "7F3A", "A+B", "x|y^z"]),
    st.integers(min_value=0, max_value=10**6),
)
def test_template_ack_is_the_built_ack(
    delims: str, fields: list[str], charset: str, control_id: str, seconds: int
) -> None:
    standard = "|^~\\&"
    # the generated fields use the standard delimiters: carry them over to the drawn ones
    fields = [f.translate(str.maketrans(standard, delims)) for f in fields]
    data = header(delims, fields, charset)
    try:
        original = parse(data)
    except InputError:  # a header the parser refuses has no ACK to compare
        return
    now = NOW + timedelta(seconds=seconds)
    timestamp = now.astimezone(PARIS).strftime("%Y%m%d%H%M%S%z")
    expected = reference_ack(original, control_id, timestamp)
    for _ in range(2):  # the template is made the first time, reused the second
        assert build_ack(original, control_id=control_id, now=now) == expected


def test_the_corpus_header_gives_the_same_ack_every_time() -> None:
    data = (b"MSH|^~\\&|SIL-BIO|LABO-GARONNE|LGC|CABINET-DURAND|20201119101500||ORU^R01^ORU_R01|"
            b"LG20201119-%04d|P|2.5|||AL|NE|FRA|UNICODE UTF-8\rPID|||X\r")
    for number in range(3):
        original = parse(data % number)
        ack = build_ack(original, control_id=f"C{number}", now=NOW)
        assert ack == reference_ack(original, f"C{number}", "20201119103000+0100")
        assert parse(ack)["MSA-2"] == f"LG20201119-{number:04d}"
