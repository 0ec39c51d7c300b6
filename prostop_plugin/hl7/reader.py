"""Read HL7 v2 files: one message, several MSH-started messages, or an FHS/BHS batch.

MLLP-framed bytes (a capture of a connection) are accepted too. Each message is decoded by its
own MSH-18, parsed and transcribed by :mod:`prostop_plugin.hl7.mapping`. Errors name the file,
the message number and the byte offset in the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from prostop_plugin.errors import HL7ParseError, IncompleteInputError
from prostop_plugin.hl7.er7 import DEFAULT_OPTIONS, ParseOptions, parse
from prostop_plugin.hl7.mapping import MappedMessage, map_message
from prostop_plugin.models import DiagnosisEvent

_BOUNDARY = re.compile(rb"(?:^|(?<=[\r\n]))(MSH|BHS|BTS|FHS|FTS)(?![A-Za-z0-9])")
_BOM = b"\xef\xbb\xbf"
# MLLP start/end bytes become segment separators: same length, so offsets stay true.
_UNFRAME = bytes.maketrans(b"\x0b\x1c", b"\r\r")
_SEGMENT = re.compile(rb"[^\r\n]+")
#: OBR-25 result statuses of an order that has no result yet, or never will (HL7 table 0123)
_NO_RESULT_STATUSES = frozenset({b"O", b"I", b"S", b"X", b"Y", b"Z"})
_CUT_SHORT = ("the transfer was probably cut short, or the file is still being written: if it "
              "does not complete, ask the sender to export it again")


class IncompleteHL7Error(HL7ParseError, IncompleteInputError):
    """The file ends before its last message or batch does (see :func:`split_messages`)."""


@dataclass(frozen=True)
class RawMessage:
    """One message's bytes and where they start in the file."""

    number: int  # 1-based, in file order
    offset: int
    data: bytes


def split_messages(data: bytes) -> list[RawMessage]:
    """Cut a file into messages; batch envelopes (FHS/BHS/BTS/FTS) are checked and dropped.

    A file that ends before its end is :class:`IncompleteHL7Error` rather than read as it is
    (its last results would be missing): an MLLP frame without its end byte, a last segment
    without its terminator, a batch without its trailer (BTS, FTS), or an ORU whose last order
    (OBR) has no result (OBX) while its status (OBR-25) announces results.
    """
    if data.lstrip(b" \t\r\n" + _BOM).startswith(b"\x0b"):
        if data.rfind(b"\x0b") > data.rfind(b"\x1c"):
            raise IncompleteHL7Error("truncated: the last MLLP frame has no end byte (0x1C)",
                                     position=data.rfind(b"\x0b"), fix=_CUT_SHORT)
        data = data.translate(_UNFRAME)
    if data.startswith(_BOM):
        data = b"\r\r\r" + data[3:]  # a blank line of the same length: offsets stay true
    messages: list[RawMessage] = []
    batch_start = 0  # index in `messages` where the current batch began
    matches = list(_BOUNDARY.finditer(data))
    if not matches:
        raise HL7ParseError("no MSH segment found", position=0,
                            fix="an HL7 v2 file holds messages that start with 'MSH|^~\\&|'")
    _only_blank(data, 0, matches[0].start())
    _check_terminated(data)
    open_file: int | None = None  # offset of an FHS not closed by its FTS yet
    open_batch: int | None = None  # offset of a BHS not closed by its BTS yet
    for i, match in enumerate(matches):
        start = match.start()
        end = matches[i + 1].start() if i + 1 < len(matches) else len(data)
        kind = match[1]
        if kind == b"MSH":
            messages.append(RawMessage(len(messages) + 1, start, data[start:end]))
            continue
        line_end = _line_end(data, start, end)
        _only_blank(data, line_end, end)
        if kind == b"BHS":
            batch_start, open_batch = len(messages), start
        elif kind == b"BTS":
            _check_count(data[start:line_end], len(messages) - batch_start, start)
            open_batch = None
        elif kind == b"FHS":
            open_file = start
        else:  # FTS
            open_file = None
    for opened, header, trailer in ((open_batch, "batch", "BTS"), (open_file, "file", "FTS")):
        if opened is not None:
            raise IncompleteHL7Error(
                f"truncated: the {header} header at byte {opened} has no trailer ({trailer})",
                position=len(data), fix=_CUT_SHORT,
            )
    if messages:
        _check_last_order(messages[-1])
    if not messages:
        raise HL7ParseError("the batch holds no message (no MSH segment)", position=0)
    return messages


def _check_terminated(data: bytes) -> None:
    """Every segment ends with a carriage return (or a line feed), the last one too."""
    body = data.rstrip(b" \t\x00")
    if body and body[-1:] not in (b"\r", b"\n"):
        raise IncompleteHL7Error(
            "truncated: the file ends in the middle of a segment (the last segment has no "
            "terminating carriage return)",
            position=max(body.rfind(b"\r"), body.rfind(b"\n")) + 1, fix=_CUT_SHORT,
        )


def _check_last_order(raw: RawMessage) -> None:
    """An ORU whose last OBR has no OBX after it was cut short, unless OBR-25 says the order
    has no result (ordered, in progress, scheduled, cancelled…)."""
    segments = list(_SEGMENT.finditer(raw.data))
    head = segments[0][0] if segments else b""
    sep = head[3:4]
    fields = head.split(sep) if sep else []
    if len(fields) < 9:
        return
    component = fields[1][:1] or b"^"
    if fields[8].split(component)[0].strip().upper() != b"ORU":
        return
    last_order: re.Match[bytes] | None = None
    for segment in segments[1:]:
        name = segment[0][:4]
        if name == b"OBR" + sep:
            last_order = segment
        elif name == b"OBX" + sep:
            last_order = None
    if last_order is None:
        return
    obr = last_order[0].split(sep)
    status = obr[25].split(component)[0].strip().upper() if len(obr) > 25 else b""
    if status not in _NO_RESULT_STATUSES:
        raise IncompleteHL7Error(
            "truncated: the message's last order (OBR) is not followed by any result (OBX)",
            position=raw.offset + last_order.start(), fix=_CUT_SHORT,
        )


def _line_end(data: bytes, start: int, end: int) -> int:
    found = [i for i in (data.find(b"\r", start, end), data.find(b"\n", start, end)) if i != -1]
    return min(found, default=end)


def _only_blank(data: bytes, start: int, end: int) -> None:
    if data[start:end].strip(b" \t\r\n\x00"):
        offset = start + len(data[start:end]) - len(data[start:end].lstrip(b" \t\r\n\x00"))
        raise HL7ParseError(
            "unexpected content outside any message", position=offset,
            fix="every segment must follow an MSH (or a batch header FHS/BHS)",
        )


def _check_count(line: bytes, expected: int, offset: int) -> None:
    """BTS-1 holds the batch's message count: a mismatch means a truncated or merged file."""
    if len(line) < 5:
        return
    count = line[4:].split(line[3:4])[0].strip()
    if count.isdigit() and int(count) != expected:
        raise HL7ParseError(
            f"the batch trailer announces {int(count)} messages but the batch holds {expected}",
            position=offset, fix="the file is truncated or was assembled wrongly: export it again",
        )


def _located(exc: HL7ParseError, name: str, raw: RawMessage) -> HL7ParseError:
    """The same error, placed in the file: name, message number, byte offset in the file."""
    inner = exc.where
    if exc.position is not None and inner is not None:
        suffix = f"byte {exc.position}"
        inner = None if inner == suffix else inner.removesuffix(", " + suffix)
    where = f"{name}, message {raw.number}" + (f", {inner}" if inner else "")
    position = raw.offset + exc.position if exc.position is not None else None
    return HL7ParseError(exc.what, where=where, fix=exc.fix, position=position)


def read_hl7_messages(
    data: bytes, name: str, adapter: str, options: ParseOptions = DEFAULT_OPTIONS
) -> list[MappedMessage]:
    """Every message of the file, transcribed (events, corrections, warnings)."""
    try:
        raws = split_messages(data)
    except HL7ParseError as exc:
        kind = IncompleteHL7Error if isinstance(exc, IncompleteInputError) else HL7ParseError
        raise kind(exc.what, where=name, fix=exc.fix, position=exc.position) from None
    mapped: list[MappedMessage] = []
    for raw in raws:
        try:
            mapped.append(map_message(parse(raw.data, options), adapter=adapter, raw=raw.data))
        except HL7ParseError as exc:
            raise _located(exc, name, raw) from None
    return mapped


def read_hl7(data: bytes, name: str, adapter: str) -> list[DiagnosisEvent]:
    """The diagnosis events of an HL7 v2 file (each has at least one evidence item)."""
    return [event for message in read_hl7_messages(data, name, adapter)
            for event in message.events]
