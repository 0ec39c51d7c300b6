"""HL7 v2 ER7 ("pipe and hat") codec: parse, access by path, escape, build.

Parsing is lazy: :func:`parse` decodes the bytes once (charset from MSH-18), splits segments and
checks their names; a segment is split into fields on first access and components only when a
value is read. All splitting is ``str.split`` (C), and escapes are processed only when the value
contains the escape character, so reading a few fields of a lab result costs a few microseconds.

Paths read like the standard, 1-based: ``msg["PID-5.1"]``, ``msg.get("OBX[2]-3.4")``,
``msg["PID-3(2).4.2"]`` (segment occurrence in ``[n]`` or ``(n)``, field repetition likewise). A
path that stops above a leaf means its first child (``PID-5`` is ``PID-5(1).1.1``), as in HAPI's
Terser. Absent values read as ``""``. MSH-1 is the field separator and MSH-2 the encoding
characters, as in the standard.

Anything malformed raises :class:`~prostop_plugin.errors.HL7ParseError` with a byte offset.

The alphabet (delimiters, charsets, escapes, paths) lives in :mod:`.er7_syntax` and building in
:mod:`.er7_build`; every public name of the three is importable from here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from prostop_plugin.errors import HL7ParseError, InputError
from prostop_plugin.hl7.er7_build import MessageBuilder, SegmentBuilder, Tree
from prostop_plugin.hl7.er7_syntax import (
    CHARSET_NAMES,
    DEFAULT_DELIMITERS,
    DEFAULT_MAX_MESSAGE_BYTES,
    DEFAULT_MAX_SEGMENTS,
    DEFAULT_OPTIONS,
    HL7_CHARSETS,
    PARSED_PATHS,
    Delimiters,
    EscapeCodec,
    ParseOptions,
    Path,
    charset_label,
    codec_for_charset,
    decode_message,
    escape,
    escape_codec,
    is_segment_name,
    parse_path,
    read_header,
    unescape,
)

__all__ = [  # the public names of er7, er7_syntax and er7_build
    "CHARSET_NAMES", "DEFAULT_DELIMITERS", "DEFAULT_MAX_MESSAGE_BYTES", "DEFAULT_MAX_SEGMENTS",
    "DEFAULT_OPTIONS", "HL7_CHARSETS", "Composite", "Delimiters", "Message", "MessageBuilder",
    "ParseOptions", "Path", "Segment", "SegmentBuilder", "Tree", "codec_for_charset", "escape",
    "parse", "parse_path", "parse_text", "unescape",
]

# --- parsed structures ------------------------------------------------------------------------


class Composite:
    """One repetition of a field: components, each with subcomponents, read 1-based."""

    __slots__ = ("_codec", "_components", "raw")

    def __init__(self, raw: str, codec: EscapeCodec) -> None:
        self.raw = raw
        self._codec = codec
        self._components: list[str] | None = None

    def get(self, component: int = 1, subcomponent: int = 1) -> str:
        """The unescaped value, ``""`` when absent."""
        comps = self._components
        if comps is None:
            comps = self._components = self.raw.split(self._codec.delimiters.component)
        if component > len(comps):
            return ""
        value = comps[component - 1]
        sub_sep = self._codec.delimiters.subcomponent
        if sub_sep in value:
            subs = value.split(sub_sep)
            value = subs[subcomponent - 1] if subcomponent <= len(subs) else ""
        elif subcomponent > 1:
            return ""
        return self._codec.unescape(value)

    def __getitem__(self, component: int) -> str:
        return self.get(component)

    def __len__(self) -> int:
        if self._components is None:
            self._components = self.raw.split(self._codec.delimiters.component)
        return len(self._components)

    def text(self) -> str:
        """The whole repetition unescaped, delimiters included: free text sent unescaped."""
        return self._codec.unescape(self.raw)

    def tree(self) -> list[list[str]]:
        """Components as lists of unescaped subcomponents."""
        d = self._codec.delimiters
        return [[self._codec.unescape(s) for s in c.split(d.subcomponent)]
                for c in self.raw.split(d.component)]

    def __repr__(self) -> str:
        return f"Composite({self.raw!r})"


class Segment:
    """One segment; fields are split on first access. ``seg[3]``, ``seg["3.4"]``."""

    __slots__ = ("_codec", "_fields", "index", "name", "text")

    def __init__(self, text: str, codec: EscapeCodec, index: int) -> None:
        self.text = text
        self.name = text[:3]
        self.index = index  # position in the message, 0-based
        self._codec = codec
        self._fields: list[str] | None = None

    def _split(self) -> list[str]:
        fs = self._codec.delimiters.field
        fields = self.text.split(fs)
        if self.name == "MSH":  # MSH-1 is the separator itself; the split starts at MSH-2
            fields.insert(1, fs)
        self._fields = fields
        return fields

    def raw_field(self, number: int) -> str:
        """The field as sent (escaped, all repetitions), ``""`` when absent."""
        fields = self._fields or self._split()
        return fields[number] if number < len(fields) else ""

    def value(self, field: int, repetition: int = 1, component: int = 1,
              subcomponent: int = 1) -> str:
        """The unescaped leaf value at these positions (1-based), ``""`` when absent."""
        fields = self._fields or self._split()
        if field >= len(fields):
            return ""
        value = fields[field]
        if field <= 2 and self.name == "MSH":
            return value if repetition == component == subcomponent == 1 else ""
        d = self._codec.delimiters
        if d.repetition in value:
            reps = value.split(d.repetition)
            value = reps[repetition - 1] if repetition <= len(reps) else ""
        elif repetition > 1:
            return ""
        if d.component in value:
            comps = value.split(d.component)
            value = comps[component - 1] if component <= len(comps) else ""
        elif component > 1:
            return ""
        if d.subcomponent in value:
            subs = value.split(d.subcomponent)
            value = subs[subcomponent - 1] if subcomponent <= len(subs) else ""
        elif subcomponent > 1:
            return ""
        return self._codec.unescape(value)

    def __getitem__(self, path: str | int) -> str:
        if isinstance(path, int):
            return self.value(path)
        _, _, fld, rep, comp, sub = parse_path(path)
        return self.value(fld, rep, comp, sub)

    def get(self, path: str | int, default: str | None = None) -> str | None:
        """Like ``seg[path]``, but ``default`` when the value is empty."""
        return self[path] or default

    def repetitions(self, field: int) -> list[Composite]:
        """The field's repetitions (an empty field gives an empty list)."""
        raw = self.raw_field(field)
        if not raw:
            return []
        if field <= 2 and self.name == "MSH":
            return [Composite(raw, escape_codec(_NO_SPLIT, self._codec.charset))]
        return [Composite(r, self._codec) for r in raw.split(self._codec.delimiters.repetition)]

    def tree(self, field: int) -> list[list[list[str]]]:
        """The field as repetitions → components → unescaped subcomponents."""
        raw = self.raw_field(field)
        if not raw:
            return []
        if field <= 2 and self.name == "MSH":
            return [[[raw]]]
        d, unescape = self._codec.delimiters, self._codec.unescape
        return [[[unescape(sub) for sub in comp.split(d.subcomponent)]
                 for comp in rep.split(d.component)] for rep in raw.split(d.repetition)]

    def __len__(self) -> int:
        """The number of the last field present."""
        return len(self._fields or self._split()) - 1

    def __repr__(self) -> str:
        return f"Segment({self.text!r})"


# Used to expose MSH-1/MSH-2 as one opaque component.
_NO_SPLIT = Delimiters("\x00", "\x01", "\x02", "\x03", "\x04")


class Message:
    """A parsed ER7 message. Build one with :func:`parse` or :func:`parse_text`."""

    __slots__ = ("_codec", "_names", "_segments", "_source", "charset", "declared_charset",
                 "delimiters", "raw")

    def __init__(self, raws: list[str], names: list[str], codec: EscapeCodec,
                 declared_charset: str | None, raw: bytes | None) -> None:
        self._codec = codec
        self._names = names  # segment names in order: list.index finds them at C speed
        self._segments: list[Segment | None] = [None] * len(raws)
        self._source = raws
        self.delimiters = codec.delimiters
        self.charset = codec.charset  #: the Python codec the bytes were decoded with
        self.declared_charset = declared_charset  #: MSH-18 as sent, None when empty
        self.raw = raw

    def _segment_at(self, i: int) -> Segment:
        seg = self._segments[i]
        if seg is None:
            seg = self._segments[i] = Segment(self._source[i], self._codec, i)
        return seg

    def _find(self, name: str, occurrence: int) -> int:
        """Index of the ``occurrence``-th segment named ``name``, -1 when there is none."""
        names = self._names
        try:
            index = names.index(name)
            for _ in range(occurrence - 1):
                index = names.index(name, index + 1)
        except ValueError:
            return -1
        return index

    def segments(self, name: str | None = None) -> list[Segment]:
        """All segments, or those named ``name``, in message order."""
        if name is None:
            return [self._segment_at(i) for i in range(len(self._source))]
        return [self._segment_at(i) for i, found in enumerate(self._names) if found == name]

    def segment(self, name: str, occurrence: int = 1) -> Segment | None:
        index = self._find(name, occurrence)
        return None if index < 0 else self._segment_at(index)

    def __iter__(self) -> Iterator[Segment]:
        return iter(self.segments())

    def __len__(self) -> int:
        return len(self._source)

    def __getitem__(self, path: str) -> str:
        """The unescaped value at ``path`` (``"PID-5.1"``), ``""`` when absent."""
        name, occ, fld, rep, comp, sub = PARSED_PATHS.get(path) or parse_path(path)
        index = self._find(name, occ)
        if index < 0:
            if not name:
                raise ValueError(f"{path!r}: a message path starts with a segment name")
            return ""
        seg = self._segments[index] or self._segment_at(index)
        return seg.value(fld, rep, comp, sub)

    def get(self, path: str, default: str | None = None) -> str | None:
        """Like ``msg[path]``, but ``default`` when the value is empty."""
        return self[path] or default

    @property
    def message_type(self) -> str:
        """``ORU^R01`` (MSH-9.1 and 9.2)."""
        return "^".join(p for p in (self["MSH-9.1"], self["MSH-9.2"]) if p)

    @property
    def control_id(self) -> str:
        return self["MSH-10"]

    @property
    def version(self) -> str:
        return self["MSH-12.1"]

    def to_text(self) -> str:
        """The message as ER7 text with ``\\r`` segment separators."""
        return "\r".join(self._source) + "\r"

    def to_bytes(self) -> bytes:
        return self.to_text().encode(self.charset)

    def segment_byte_offset(self, index: int) -> int | None:
        """Byte offset of segment ``index`` in the parsed bytes (for error messages)."""
        return _offset(index, self.raw, self.charset)

    def __repr__(self) -> str:
        return f"<Message {self.message_type} {self.control_id!r}, {len(self)} segments>"


def _offset(index: int, raw: bytes | None, charset: str) -> int | None:
    """Byte offset of non-blank segment ``index`` in ``raw``, by the splitting rules of parse.
    Only computed for error messages."""
    if raw is None:
        return None
    text = raw.decode(charset, errors="replace")
    number = 0
    for match in re.finditer(r"[^\r\n]+", text):
        if match[0].strip():
            if number == index:
                return len(text[: match.start()].encode(charset, errors="replace"))
            number += 1
    return None



# --- parsing ----------------------------------------------------------------------------------


def parse(data: bytes, options: ParseOptions = DEFAULT_OPTIONS) -> Message:
    """Parse one ER7 message from bytes (charset from MSH-18)."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise InputError(f"expected bytes, got {type(data).__name__}")
    data = bytes(data)
    if not data:
        raise HL7ParseError("the message is empty", position=0, fix="send an MSH-started message")
    if len(data) > options.max_bytes:
        raise HL7ParseError(
            f"the message is {len(data)} bytes, over the {options.max_bytes}-byte limit",
            position=options.max_bytes, fix="raise max_bytes if such messages are expected",
        )
    delimiters, declared = read_header(data)
    text, charset, label = decode_message(data, declared, delimiters, options)
    return _build(text, delimiters, charset, label, options, data)


def parse_text(text: str, options: ParseOptions = DEFAULT_OPTIONS) -> Message:
    """Parse an already decoded message; ``\\Xhh\\`` escapes use MSH-18's charset or UTF-8."""
    data = text.encode("utf-8", errors="surrogatepass")
    if len(data) > options.max_bytes:
        raise HL7ParseError(f"the message is over the {options.max_bytes}-byte limit",
                            position=options.max_bytes)
    if not text:
        raise HL7ParseError("the message is empty", position=0)
    delimiters, declared = read_header(data)
    charset, label = "utf-8", None
    if declared:
        label, charset = charset_label(declared, data, delimiters)
    return _build(text, delimiters, charset, label, options, None)


_BAD_STARTS: dict[str, re.Pattern[str]] = {}


def _bad_segment_start(fs: str) -> re.Pattern[str]:
    """Finds a segment that is not ``NAME`` + field separator (or end), nor empty: one C-speed
    search validates every segment of a well-formed message (the first is MSH, checked)."""
    pattern = _BAD_STARTS.get(fs)
    if pattern is None:
        sep = re.escape(fs)
        pattern = _BAD_STARTS[fs] = re.compile(
            rf"\r(?![A-Z][A-Z0-9]{{2}}(?:{sep}|\r|$)|\r|$)")
    return pattern


def _build(text: str, delimiters: Delimiters, charset: str, label: str | None,
           options: ParseOptions, raw: bytes | None) -> Message:
    if "\n" in text:
        text = text.replace("\r\n", "\r").replace("\n", "\r")
    fs = delimiters.field
    if _bad_segment_start(fs).search(text):
        raws = [seg for seg in text.split("\r") if seg.strip()]  # whitespace lines dropped
        for i, seg in enumerate(raws):
            _check_segment(seg, fs, i, raw, charset)
    else:
        raws = text.split("\r")
        if raws[-1] == "":
            raws.pop()
        if "" in raws:
            raws = [seg for seg in raws if seg]
    if len(raws) > options.max_segments:
        raise HL7ParseError(
            f"the message has {len(raws)} segments, over the limit of {options.max_segments}",
            position=_offset(options.max_segments, raw, charset),
            fix="raise max_segments if such messages are expected",
        )
    names = [seg[:3] for seg in raws]
    for envelope in ("MSH", "BHS", "BTS", "FHS", "FTS"):
        if envelope in names and (envelope != "MSH" or names.count("MSH") > 1):
            where = names.index(envelope, 1)
            raise HL7ParseError(
                f"segment {where + 1} is {envelope}: this holds several messages or a batch",
                position=_offset(where, raw, charset),
                fix="split it into messages first (prostop_plugin.hl7.reader.split_messages)",
            )
    return Message(raws, names, escape_codec(delimiters, charset), label, raw)


def _check_segment(seg: str, fs: str, i: int, raw: bytes | None, charset: str) -> None:
    name = seg[:3]
    if not is_segment_name(name):
        raise HL7ParseError(
            f"segment {i + 1} has no valid segment name: {seg[:12]!r}",
            position=_offset(i, raw, charset),
            fix="segments start with a 3-character name (PID, OBX, …) then the field separator",
        )
    if len(seg) > 3 and seg[3] != fs:
        raise HL7ParseError(
            f"segment {name} (number {i + 1}) does not continue with the field separator {fs!r}",
            position=_offset(i, raw, charset),
            fix="check that the whole message uses the delimiters of MSH-1/MSH-2",
        )


