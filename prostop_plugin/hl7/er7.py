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
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from prostop_plugin.errors import HL7ParseError, InputError

DEFAULT_MAX_MESSAGE_BYTES = 10 * 1024 * 1024
DEFAULT_MAX_SEGMENTS = 50_000

#: MSH-18 values (HL7 table 0211 and spellings met in the field) → Python codec.
HL7_CHARSETS: dict[str, str] = {
    "ASCII": "ascii",
    "US-ASCII": "ascii",
    "8859/1": "latin-1",
    "8859/2": "iso8859-2",
    "8859/3": "iso8859-3",
    "8859/4": "iso8859-4",
    "8859/5": "iso8859-5",
    "8859/6": "iso8859-6",
    "8859/7": "iso8859-7",
    "8859/8": "iso8859-8",
    "8859/9": "iso8859-9",
    "8859/15": "iso8859-15",
    "ISO-8859-1": "latin-1",
    "ISO8859-1": "latin-1",
    "ISO_8859-1": "latin-1",
    "LATIN1": "latin-1",
    "LATIN-1": "latin-1",
    "ISO-8859-15": "iso8859-15",
    "ISO8859-15": "iso8859-15",
    "LATIN9": "iso8859-15",
    "LATIN-9": "iso8859-15",
    "CP1252": "cp1252",
    "WINDOWS-1252": "cp1252",
    "UNICODE UTF-8": "utf-8",
    "UTF-8": "utf-8",
    "UTF8": "utf-8",
    # Table 0211's bare "UNICODE" predates UTF-8; a message with 8-bit delimiters can only be it.
    "UNICODE": "utf-8",
}

#: Python codec → the MSH-18 value written on output.
CHARSET_NAMES: dict[str, str] = {
    "ascii": "ASCII",
    "latin-1": "8859/1",
    "iso8859-15": "8859/15",
    "utf-8": "UNICODE UTF-8",
    "cp1252": "8859/1",  # no table-0211 name; the closest a receiver understands
}

_PROBE = "MSH|^~\\&\r"


def codec_for_charset(charset: str) -> str:
    """The Python codec for an MSH-18 value; :class:`HL7ParseError` when unknown."""
    codec = HL7_CHARSETS.get(charset.strip().upper())
    if codec is None:
        raise HL7ParseError(
            f"unknown character set {charset!r} in MSH-18",
            fix="use ASCII, 8859/1, 8859/15 or UNICODE UTF-8",
        )
    return codec


def _ascii_compatible(codec: str) -> bool:
    try:
        return _PROBE.encode(codec) == _PROBE.encode("ascii")
    except (LookupError, UnicodeError):
        return False


@dataclass(frozen=True, slots=True)
class Delimiters:
    """The separators and escape character, from MSH-1 and MSH-2."""

    field: str = "|"
    component: str = "^"
    repetition: str = "~"
    escape: str = "\\"
    subcomponent: str = "&"
    truncation: str | None = None  # v2.7's fifth encoding character

    @property
    def encoding_characters(self) -> str:
        """The MSH-2 value."""
        chars = self.component + self.repetition + self.escape + self.subcomponent
        return chars + (self.truncation or "")

    @classmethod
    def from_msh(cls, field_separator: str, encoding: str) -> Delimiters:
        """Check MSH-1/MSH-2 and build the delimiters; :class:`ValueError` explains a problem."""
        if len(encoding) not in (4, 5):
            raise ValueError(f"MSH-2 must hold 4 encoding characters, found {encoding!r}")
        chars = field_separator + encoding
        for char in chars:
            if not char.isascii() or char.isalnum() or char.isspace() or not char.isprintable():
                raise ValueError(f"{char!r} cannot be a delimiter (use punctuation)")
        if len(set(chars)) != len(chars):
            raise ValueError(f"the delimiters {chars!r} are not all different")
        return cls(field_separator, encoding[0], encoding[1], encoding[2], encoding[3],
                   encoding[4] if len(encoding) == 5 else None)


DEFAULT_DELIMITERS = Delimiters()


@dataclass(frozen=True, slots=True)
class ParseOptions:
    """Limits and the charset used when MSH-18 is empty and the bytes are not UTF-8."""

    max_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    max_segments: int = DEFAULT_MAX_SEGMENTS
    fallback_charset: str = "latin-1"

    def __post_init__(self) -> None:
        if not _ascii_compatible(self.fallback_charset):
            raise ValueError(
                f"fallback charset {self.fallback_charset!r} is unknown or not ASCII-compatible"
            )
        if self.max_bytes < 8 or self.max_segments < 1:
            raise ValueError("max_bytes must be ≥ 8 and max_segments ≥ 1")


DEFAULT_OPTIONS = ParseOptions()


# --- escaping ---------------------------------------------------------------------------------

_HEX = re.compile(r"[0-9A-Fa-f]+")
_SPACE_LINES = re.compile(r"\.sp ?\+?(\d{1,2})")


class _Codec:
    """Delimiters + charset with the lookup tables escaping needs; shared by a message's parts."""

    __slots__ = ("charset", "delimiters", "escape_char", "simple", "special")

    def __init__(self, delimiters: Delimiters, charset: str) -> None:
        d = delimiters
        self.delimiters = d
        self.charset = charset
        self.escape_char = d.escape
        # \H\ and \N\ switch highlighting on and off: formatting without text, so dropped.
        self.simple = {
            "F": d.field, "S": d.component, "T": d.subcomponent, "R": d.repetition,
            "E": d.escape, ".br": "\n", ".sp": "\n", "H": "", "N": "",
        }
        if d.truncation:
            self.simple["P"] = d.truncation
        e = d.escape
        # Order matters: the escape character first, so later replacements are not re-escaped.
        special = [(e, f"{e}E{e}"), (d.field, f"{e}F{e}"), (d.component, f"{e}S{e}"),
                   (d.subcomponent, f"{e}T{e}"), (d.repetition, f"{e}R{e}"),
                   ("\r", f"{e}X0D{e}"), ("\n", f"{e}.br{e}")]
        if d.truncation:
            special.append((d.truncation, f"{e}P{e}"))
        self.special = tuple(special)

    def escape(self, value: str) -> str:
        for char, replacement in self.special:
            if char in value:
                value = value.replace(char, replacement)
        return value

    def unescape(self, value: str) -> str:
        e = self.escape_char
        if e not in value:
            return value
        parts = value.split(e)
        out = [parts[0]]
        pending = bytearray()  # consecutive \Xhh\ sequences decode together (multi-byte chars)
        count = len(parts)
        i = 1
        while i < count:
            if i + 1 >= count:  # an escape character with no closing one: literal
                self._flush_hex(pending, out)
                out.append(e + parts[i])
                break
            sequence = parts[i]
            if sequence[:1] == "X" and _HEX.fullmatch(sequence, 1) and len(sequence) % 2:
                pending += bytes.fromhex(sequence[1:])
                if parts[i + 1]:
                    self._flush_hex(pending, out)
                    out.append(parts[i + 1])
                i += 2
                continue
            self._flush_hex(pending, out)
            replacement = self.simple.get(sequence)
            if replacement is None:
                match = _SPACE_LINES.fullmatch(sequence)
                replacement = "\n" * max(1, int(match[1])) if match else e + sequence + e
            out.append(replacement)
            out.append(parts[i + 1])
            i += 2
        self._flush_hex(pending, out)
        return "".join(out)

    def _flush_hex(self, pending: bytearray, out: list[str]) -> None:
        if not pending:
            return
        try:
            out.append(bytes(pending).decode(self.charset))
        except UnicodeDecodeError:  # not text in this charset: keep it as a hex escape
            out.append(f"{self.escape_char}X{pending.hex().upper()}{self.escape_char}")
        pending.clear()


_CODECS: dict[tuple[str, str], _Codec] = {}


def _codec(delimiters: Delimiters, charset: str) -> _Codec:
    key = (delimiters.field + delimiters.encoding_characters, charset)
    found = _CODECS.get(key)
    if found is None:
        found = _Codec(delimiters, charset)
        if len(_CODECS) < 256:  # bounded: keyed by untrusted input
            _CODECS[key] = found
    return found


def escape(value: str, delimiters: Delimiters = DEFAULT_DELIMITERS) -> str:
    """ER7-escape a value: delimiters become ``\\F\\ \\S\\ \\T\\ \\R\\ \\E\\``, CR ``\\X0D\\``,
    LF ``\\.br\\``."""
    return _codec(delimiters, "utf-8").escape(value)


def unescape(
    value: str, delimiters: Delimiters = DEFAULT_DELIMITERS, charset: str = "utf-8"
) -> str:
    """Decode escapes; ``\\Xhh\\`` bytes are decoded in ``charset`` (a Python codec)."""
    return _codec(delimiters, charset).unescape(value)


# --- paths ------------------------------------------------------------------------------------

_PATH = re.compile(
    r"(?:(?P<seg>[A-Z][A-Z0-9]{2})(?:[\[(](?P<occ>\d+)[\])])?-)?"
    r"(?P<field>\d+)(?:[\[(](?P<rep>\d+)[\])])?(?:\.(?P<comp>\d+)(?:\.(?P<sub>\d+))?)?"
)
#: segment name, occurrence, field, repetition, component, subcomponent
Path = tuple[str, int, int, int, int, int]
_PATHS: dict[str, Path] = {}


def parse_path(path: str) -> Path:
    """``"OBX[2]-3(1).4.2"`` → ``("OBX", 2, 3, 1, 4, 2)``; missing parts are 1 (name ``""``)."""
    found = _PATHS.get(path)
    if found is not None:
        return found
    match = _PATH.fullmatch(path)
    if match is None:
        raise ValueError(f"{path!r} is not an HL7 path such as 'PID-5.1' or 'OBX[2]-3.4'")
    numbers = [int(match[g] or 1) for g in ("occ", "field", "rep", "comp", "sub")]
    if 0 in numbers:
        raise ValueError(f"{path!r}: HL7 positions start at 1")
    occ, fld, rep, comp, sub = numbers
    parsed = (match["seg"] or "", occ, fld, rep, comp, sub)
    if len(_PATHS) < 4096:
        _PATHS[path] = parsed
    return parsed


# --- parsed structures ------------------------------------------------------------------------


class Composite:
    """One repetition of a field: components, each with subcomponents, read 1-based."""

    __slots__ = ("_codec", "_components", "raw")

    def __init__(self, raw: str, codec: _Codec) -> None:
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

    def __init__(self, text: str, codec: _Codec, index: int) -> None:
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
            return [Composite(raw, _codec(_NO_SPLIT, self._codec.charset))]
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


def _is_segment_name(name: str) -> bool:
    return len(name) == 3 and name.isascii() and name.isalnum() and name.isupper() \
        and name[0].isalpha()


class Message:
    """A parsed ER7 message. Build one with :func:`parse` or :func:`parse_text`."""

    __slots__ = ("_codec", "_names", "_segments", "_source", "charset", "declared_charset",
                 "delimiters", "raw")

    def __init__(self, raws: list[str], names: list[str], codec: _Codec,
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
        name, occ, fld, rep, comp, sub = _PATHS.get(path) or parse_path(path)
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


_DELIMITERS: dict[bytes, Delimiters] = {}
_LABELS: dict[bytes, tuple[str, str]] = {}  # MSH-18 as sent → (label, Python codec)
_CACHE_SIZE = 256  # the caches are keyed by untrusted input: bounded


def _read_header(data: bytes) -> tuple[Delimiters, bytes]:
    """Delimiters from MSH-1/MSH-2 and the raw MSH-18, read before decoding (all supported
    charsets are ASCII-compatible)."""
    if not data.startswith(b"MSH"):
        raise HL7ParseError(
            "the message does not start with an MSH segment", position=0,
            fix="an HL7 v2 message begins with 'MSH|^~\\&|'",
        )
    line = data[:_line_end(data)]
    if len(line) < 8:
        raise HL7ParseError("the MSH segment is truncated", position=len(line),
                            fix="MSH needs at least its delimiters: 'MSH|^~\\&'")
    fs = line[3:4]
    enc_end = line.find(fs, 4)
    header = line[3:] if enc_end == -1 else line[3:enc_end]
    delimiters = _DELIMITERS.get(header)
    if delimiters is None:
        try:
            delimiters = Delimiters.from_msh(fs.decode("ascii"), header[1:].decode("ascii"))
        except (UnicodeDecodeError, ValueError) as exc:
            what = str(exc) if isinstance(exc, ValueError) else "the delimiters are not ASCII"
            raise HL7ParseError(what, position=3,
                                fix="MSH-1 and MSH-2 should read '|^~\\&'") from None
        if len(_DELIMITERS) < _CACHE_SIZE:
            _DELIMITERS[header] = delimiters
    fields = line.split(fs, 18)
    if len(fields) <= 17:
        return delimiters, b""
    return delimiters, fields[17].split(delimiters.repetition.encode())[0].strip()


def _line_end(data: bytes) -> int:
    ends = [i for i in (data.find(b"\r"), data.find(b"\n")) if i != -1]
    return min(ends, default=len(data))


def _charset_label(declared: bytes, data: bytes, delimiters: Delimiters) -> tuple[str, str]:
    """(MSH-18 text, Python codec) for MSH-18 as sent; :class:`HL7ParseError` when unknown."""
    found = _LABELS.get(declared)
    if found is not None:
        return found
    try:
        # Unescaped: with v2.7's truncation character '/', "8859/1" arrives as "8859\P\1".
        label = _codec(delimiters, "ascii").unescape(declared.decode("ascii"))
        found = label, codec_for_charset(label)
    except (UnicodeDecodeError, HL7ParseError):
        line = data[:_line_end(data)]
        msh18_start = sum(len(f) + 1 for f in line.split(line[3:4], 17)[:17])
        raise HL7ParseError(
            f"unknown character set {declared.decode('latin-1')!r} in MSH-18",
            position=line.find(declared, msh18_start),
            fix="use ASCII, 8859/1, 8859/15 or UNICODE UTF-8",
        ) from None
    if len(_LABELS) < _CACHE_SIZE and delimiters.escape.encode() not in declared:
        _LABELS[declared] = found
    return found


def _decode(data: bytes, declared: bytes, delimiters: Delimiters,
            options: ParseOptions) -> tuple[str, str, str | None]:
    """Decode by MSH-18, else UTF-8, else the fallback. Returns text, codec, declared name."""
    if declared:
        label, codec = _charset_label(declared, data, delimiters)
        try:
            return data.decode(codec), codec, label
        except UnicodeDecodeError as exc:
            raise HL7ParseError(
                f"the bytes are not valid {label} as MSH-18 declares", position=exc.start,
                fix="the sender should declare the charset it really uses in MSH-18",
            ) from None
    try:
        return data.decode("utf-8"), "utf-8", None
    except UnicodeDecodeError:
        pass
    try:
        return data.decode(options.fallback_charset), options.fallback_charset, None
    except UnicodeDecodeError as exc:
        raise HL7ParseError(
            f"no MSH-18 and the bytes are neither UTF-8 nor {options.fallback_charset}",
            position=exc.start, fix="the sender should declare its charset in MSH-18",
        ) from None


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
    delimiters, declared = _read_header(data)
    text, charset, label = _decode(data, declared, delimiters, options)
    return _build(text, delimiters, charset, label, options, data)


def parse_text(text: str, options: ParseOptions = DEFAULT_OPTIONS) -> Message:
    """Parse an already decoded message; ``\\Xhh\\`` escapes use MSH-18's charset or UTF-8."""
    data = text.encode("utf-8", errors="surrogatepass")
    if len(data) > options.max_bytes:
        raise HL7ParseError(f"the message is over the {options.max_bytes}-byte limit",
                            position=options.max_bytes)
    if not text:
        raise HL7ParseError("the message is empty", position=0)
    delimiters, declared = _read_header(data)
    charset, label = "utf-8", None
    if declared:
        label, charset = _charset_label(declared, data, delimiters)
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
    return Message(raws, names, _codec(delimiters, charset), label, raw)


def _check_segment(seg: str, fs: str, i: int, raw: bytes | None, charset: str) -> None:
    name = seg[:3]
    if not _is_segment_name(name):
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


# --- building ---------------------------------------------------------------------------------

Tree = list[list[list[str]]]  # repetitions → components → subcomponents


@dataclass
class SegmentBuilder:
    """A segment built from Python values; every value is escaped when rendered."""

    name: str
    fields: dict[int, Tree] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not _is_segment_name(self.name):
            raise ValueError(f"{self.name!r} is not a segment name")

    def set(self, path: str | int, value: str | None) -> SegmentBuilder:
        """Set one leaf: ``seg.set(5, "x")``, ``seg.set("3(2).4.2", "1.2.250…")``."""
        if isinstance(path, int):
            fld, rep, comp, sub = path, 1, 1, 1
        else:
            name, _, fld, rep, comp, sub = parse_path(path)
            if name and name != self.name:
                raise ValueError(f"path {path!r} is not in segment {self.name}")
        if self.name == "MSH" and fld <= 2:
            raise ValueError("MSH-1 and MSH-2 come from the delimiters")
        tree = self.fields.setdefault(fld, [])
        while len(tree) < rep:
            tree.append([])
        comps = tree[rep - 1]
        while len(comps) < comp:
            comps.append([])
        subs = comps[comp - 1]
        while len(subs) < sub:
            subs.append("")
        subs[sub - 1] = value or ""
        return self

    def set_tree(self, fld: int, tree: Sequence[Sequence[Sequence[str]]]) -> SegmentBuilder:
        """Set a whole field from :meth:`Segment.tree` output (e.g. copy PID-3 across)."""
        if self.name == "MSH" and fld <= 2:
            raise ValueError("MSH-1 and MSH-2 come from the delimiters")
        self.fields[fld] = [[list(c) for c in rep] for rep in tree]
        return self

    def render(self, delimiters: Delimiters, charset_name: str | None = None) -> str:
        codec = _codec(delimiters, "utf-8")
        d = delimiters
        last = max(self.fields, default=0)
        parts = [self.name]
        start = 1
        if self.name == "MSH":
            parts = ["MSH" + d.field + d.encoding_characters]
            start = 3
            if charset_name and not self.fields.get(18):
                last = max(last, 18)
        for number in range(start, last + 1):
            tree = self.fields.get(number)
            if tree is None and number == 18 and self.name == "MSH" and charset_name:
                tree = [[[charset_name]]]
            parts.append(_render_tree(tree or [], codec, d))
        while len(parts) > 1 and parts[-1] == "":
            parts.pop()
        return d.field.join(parts)


def _render_tree(tree: Tree, codec: _Codec, d: Delimiters) -> str:
    reps = []
    for rep in tree:
        comps = [d.subcomponent.join(codec.escape(s) for s in comp).rstrip(d.subcomponent)
                 for comp in rep]
        reps.append(d.component.join(comps).rstrip(d.component))
    return d.repetition.join(reps).rstrip(d.repetition)


class MessageBuilder:
    """Build an outgoing message segment by segment.

    ``charset`` is the MSH-18 name written (unless MSH-18 is set explicitly) and decides the
    encoding; ``None`` leaves MSH-18 empty and encodes as ``encoding`` (default UTF-8).
    """

    def __init__(self, delimiters: Delimiters = DEFAULT_DELIMITERS,
                 charset: str | None = "UNICODE UTF-8", encoding: str | None = None) -> None:
        self.delimiters = delimiters
        self.charset = charset
        if encoding is None:
            encoding = codec_for_charset(charset) if charset else "utf-8"
        self.encoding = encoding
        self.segments: list[SegmentBuilder] = []

    def add(self, name: str) -> SegmentBuilder:
        seg = SegmentBuilder(name)
        self.segments.append(seg)
        return seg

    def to_text(self) -> str:
        if not self.segments or self.segments[0].name != "MSH":
            raise ValueError("a message starts with an MSH segment")
        return "".join(s.render(self.delimiters, self.charset) + "\r" for s in self.segments)

    def to_bytes(self, errors: str = "strict") -> bytes:
        """Encode; a character the charset cannot hold is an :class:`InputError` unless
        ``errors="replace"``."""
        text = self.to_text()
        try:
            return text.encode(self.encoding, errors=errors)
        except UnicodeEncodeError as exc:
            raise InputError(
                f"{text[exc.start]!r} cannot be written in {self.charset or self.encoding}",
                where=f"character {exc.start}", fix="send the message as UNICODE UTF-8",
            ) from None

    def to_message(self) -> Message:
        return parse(self.to_bytes())
