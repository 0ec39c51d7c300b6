"""The ER7 alphabet both reading and writing need: delimiters (MSH-1/MSH-2), character sets
(MSH-18), escape sequences, HL7 paths, segment names, size limits, and decoding a message's bytes
by its own header.

:mod:`prostop_plugin.hl7.er7` parses and reads messages with it, :mod:`prostop_plugin.hl7.er7_build`
writes them; their public names are all importable from :mod:`prostop_plugin.hl7.er7`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from prostop_plugin.errors import HL7ParseError

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


class EscapeCodec:
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


_CODECS: dict[tuple[str, str], EscapeCodec] = {}


def escape_codec(delimiters: Delimiters, charset: str) -> EscapeCodec:
    key = (delimiters.field + delimiters.encoding_characters, charset)
    found = _CODECS.get(key)
    if found is None:
        found = EscapeCodec(delimiters, charset)
        if len(_CODECS) < 256:  # bounded: keyed by untrusted input
            _CODECS[key] = found
    return found


def escape(value: str, delimiters: Delimiters = DEFAULT_DELIMITERS) -> str:
    """ER7-escape a value: delimiters become ``\\F\\ \\S\\ \\T\\ \\R\\ \\E\\``, CR ``\\X0D\\``,
    LF ``\\.br\\``."""
    return escape_codec(delimiters, "utf-8").escape(value)


def unescape(
    value: str, delimiters: Delimiters = DEFAULT_DELIMITERS, charset: str = "utf-8"
) -> str:
    """Decode escapes; ``\\Xhh\\`` bytes are decoded in ``charset`` (a Python codec)."""
    return escape_codec(delimiters, charset).unescape(value)


# --- paths ------------------------------------------------------------------------------------

_PATH = re.compile(
    r"(?:(?P<seg>[A-Z][A-Z0-9]{2})(?:[\[(](?P<occ>\d+)[\])])?-)?"
    r"(?P<field>\d+)(?:[\[(](?P<rep>\d+)[\])])?(?:\.(?P<comp>\d+)(?:\.(?P<sub>\d+))?)?"
)
#: segment name, occurrence, field, repetition, component, subcomponent
Path = tuple[str, int, int, int, int, int]
PARSED_PATHS: dict[str, Path] = {}


def parse_path(path: str) -> Path:
    """``"OBX[2]-3(1).4.2"`` → ``("OBX", 2, 3, 1, 4, 2)``; missing parts are 1 (name ``""``)."""
    found = PARSED_PATHS.get(path)
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
    if len(PARSED_PATHS) < 4096:
        PARSED_PATHS[path] = parsed
    return parsed


def is_segment_name(name: str) -> bool:
    return len(name) == 3 and name.isascii() and name.isalnum() and name.isupper() \
        and name[0].isalpha()


# --- decoding by the header ------------------------------------------------------------------

_DELIMITERS: dict[bytes, Delimiters] = {}
_LABELS: dict[bytes, tuple[str, str]] = {}  # MSH-18 as sent → (label, Python codec)
_CACHE_SIZE = 256  # the caches are keyed by untrusted input: bounded


def read_header(data: bytes) -> tuple[Delimiters, bytes]:
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


def charset_label(declared: bytes, data: bytes, delimiters: Delimiters) -> tuple[str, str]:
    """(MSH-18 text, Python codec) for MSH-18 as sent; :class:`HL7ParseError` when unknown."""
    found = _LABELS.get(declared)
    if found is not None:
        return found
    try:
        # Unescaped: with v2.7's truncation character '/', "8859/1" arrives as "8859\P\1".
        label = escape_codec(delimiters, "ascii").unescape(declared.decode("ascii"))
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


def decode_message(data: bytes, declared: bytes, delimiters: Delimiters,
            options: ParseOptions) -> tuple[str, str, str | None]:
    """Decode by MSH-18, else UTF-8, else the fallback. Returns text, codec, declared name."""
    if declared:
        label, codec = charset_label(declared, data, delimiters)
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

