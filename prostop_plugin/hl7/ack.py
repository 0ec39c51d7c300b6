"""Outgoing HL7 v2 messages: acknowledgments, and the write-back of an issued code.

ACKs follow the received message: original mode (AA/AE/AR) when MSH-15 and MSH-16 are empty,
enhanced mode (commit CA/CE/CR) when either is set; MSA-2 echoes MSH-10; sender and receiver
are swapped; version, processing id and charset are those of the received message. AE/AR carry
an ERR segment with the reason (v2.5+ layout, or ERR-1 for older versions).

Every value written is escaped with the outgoing delimiters, so a reason or a note containing
``|`` or ``^`` cannot break the message.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from prostop_plugin.errors import HL7ParseError, InputError
from prostop_plugin.hl7.er7 import (
    DEFAULT_DELIMITERS,
    Message,
    MessageBuilder,
    SegmentBuilder,
    parse,
)
from prostop_plugin.hl7.er7_syntax import EscapeCodec, escape_codec
from prostop_plugin.hl7.mapping import HL7FieldError, UnsupportedMessageType
from prostop_plugin.models import utcnow
from prostop_plugin.values import PARIS

AckCode = Literal["AA", "AE", "AR", "CA", "CE", "CR"]
Outcome = Literal["accept", "error", "reject"]
AckMode = Literal["original", "enhanced"]

#: HL7 table 0357, message error condition codes.
ERROR_CODES: dict[str, str] = {
    "0": "Message accepted",
    "100": "Segment sequence error",
    "101": "Required field missing",
    "102": "Data type error",
    "103": "Table value not found",
    "200": "Unsupported message type",
    "201": "Unsupported event code",
    "202": "Unsupported processing id",
    "203": "Unsupported version id",
    "204": "Unknown key identifier",
    "205": "Duplicate key identifier",
    "206": "Application record locked",
    "207": "Application internal error",
}
_CODES: dict[tuple[AckMode, Outcome], AckCode] = {
    ("original", "accept"): "AA", ("original", "error"): "AE", ("original", "reject"): "AR",
    ("enhanced", "accept"): "CA", ("enhanced", "error"): "CE", ("enhanced", "reject"): "CR",
}


@dataclass(frozen=True)
class AckError:
    """Why a message is not accepted: what goes into MSA-3 and the ERR segment.

    ``outcome`` ``"error"`` (AE/CE) is a content problem the sender must fix; ``"reject"``
    (AR/CR) is a message we do not take (type, version) or cannot take now (internal failure).
    """

    text: str
    code: str = "207"  # table 0357
    outcome: Literal["error", "reject"] = "error"
    severity: Literal["E", "W", "I", "F"] = "E"  # table 0516
    segment: str | None = None
    occurrence: int | None = None
    field: int | None = None

    @classmethod
    def from_exception(cls, exc: BaseException) -> AckError:
        """The ACK error for what the parser, the mapping or the core raised."""
        if isinstance(exc, UnsupportedMessageType):
            return cls(exc.one_line(), code="200", outcome="reject")
        if isinstance(exc, HL7FieldError):
            return cls(exc.one_line(), code="102", segment=exc.segment,
                       occurrence=exc.occurrence, field=exc.field_number)
        if isinstance(exc, HL7ParseError | InputError):
            return cls(exc.one_line(), code="102")
        # Not the message's fault: reject so that the sender retries later.
        return cls("internal error, retry later", code="207", outcome="reject")


def ack_mode(msg: Message) -> AckMode:
    """Enhanced mode when MSH-15 or MSH-16 is set."""
    return "enhanced" if msg["MSH-15"].strip() or msg["MSH-16"].strip() else "original"


def ack_code(msg: Message, outcome: Outcome) -> AckCode:
    return _CODES[(ack_mode(msg), outcome)]


def wants_ack(msg: Message, outcome: Outcome) -> bool:
    """Whether an accept ACK is expected: original mode always; enhanced mode by MSH-15
    (AL always, NE never, ER only on error, SU only on success; empty: always)."""
    if ack_mode(msg) == "original":
        return True
    condition = msg["MSH-15"].strip().upper()
    return {"NE": False, "ER": outcome != "accept", "SU": outcome == "accept"}.get(condition, True)


def hl7_timestamp(moment: datetime | None = None) -> str:
    """``YYYYMMDDHHMMSS±ZZZZ`` in Paris time."""
    return (moment or utcnow()).astimezone(PARIS).strftime("%Y%m%d%H%M%S%z")


def new_control_id() -> str:
    """A unique MSH-10 (20 characters: the v2.5 length)."""
    return uuid.uuid4().hex[:20].upper()


def _version(text: str) -> tuple[int, ...]:
    parts = [int(p) for p in text.split(".") if p.isdigit()]
    return tuple(parts) or (2, 5)


def build_ack(
    original: Message, error: AckError | None = None, *,
    sending_application: str | None = None, sending_facility: str | None = None,
    control_id: str | None = None, now: datetime | None = None,
) -> bytes:
    """The accept/commit ACK for ``original``: accept when ``error`` is None.

    Sender defaults to the original's receiver (MSH-5/MSH-6). Characters the original's charset
    cannot hold are replaced, so an ACK can always be sent.

    The common case (an accept whose sender and receiver are the original's) is rendered from
    a template of the same header (:func:`_accept_template`): the same text as building it.
    """
    timestamp, control_id = hl7_timestamp(now), control_id or new_control_id()
    if error is None and sending_application is None and sending_facility is None:
        template = _accept_template(original)
        if template is not None:
            text, codec = template
            text = text.replace(_TIMESTAMP, codec.escape(timestamp)).replace(
                _CONTROL_ID, codec.escape(control_id)).replace(
                _ACKNOWLEDGED, codec.escape(original.control_id))
            return text.encode(original.charset, errors="replace")
    return _render_ack(original, error, sending_application, sending_facility,
                       timestamp, control_id, original.control_id).encode(
        original.charset, errors="replace")


#: stand-ins for the values that change from one ACK to the next (escaping leaves them as they
#: are: no delimiter, no CR or LF in them)
_TIMESTAMP, _CONTROL_ID, _ACKNOWLEDGED = "\ue000T\ue001", "\ue000C\ue001", "\ue000A\ue001"
#: header fields an accept ACK depends on (MSH-9 for its trigger event, 15/16 for the mode)
_HEADER_FIELDS = (3, 4, 5, 6, 9, 11, 12, 15, 16, 17)
_TEMPLATES: dict[tuple[object, ...], tuple[str, EscapeCodec] | None] = {}
_MAX_TEMPLATES = 256  # keyed by what senders send: bounded


def _accept_template(original: Message) -> tuple[str, EscapeCodec] | None:
    """The accept ACK of this header with stand-ins for the time, the control id and MSA-2,
    built once by :func:`_render_ack` (so it is what building it gives); None when a stand-in
    cannot be told apart in it, or MSA-2 is empty (the builder then drops the field)."""
    if not original.control_id:
        return None
    msh = original.segment("MSH")
    assert msh is not None  # a parsed message starts with MSH
    key = (original.delimiters, original.declared_charset, original.charset,
           *(msh.raw_field(number) for number in _HEADER_FIELDS))
    try:
        return _TEMPLATES[key]
    except KeyError:
        pass
    text = _render_ack(original, None, None, None, _TIMESTAMP, _CONTROL_ID, _ACKNOWLEDGED)
    found = None
    if all(text.count(mark) == 1 for mark in (_TIMESTAMP, _CONTROL_ID, _ACKNOWLEDGED)):
        found = text, escape_codec(original.delimiters, "utf-8")
    if len(_TEMPLATES) < _MAX_TEMPLATES:
        _TEMPLATES[key] = found
    return found


def _render_ack(
    original: Message, error: AckError | None, sending_application: str | None,
    sending_facility: str | None, timestamp: str, control_id: str, acknowledged: str,
) -> str:
    outcome: Outcome = "accept" if error is None else error.outcome
    builder = MessageBuilder(original.delimiters, original.declared_charset,
                             encoding=original.charset)
    msh = builder.add("MSH")
    src = original.segments()[0]
    if sending_application is None:
        msh.set_tree(3, src.tree(5))
    else:
        msh.set(3, sending_application)
    if sending_facility is None:
        msh.set_tree(4, src.tree(6))
    else:
        msh.set(4, sending_facility)
    msh.set_tree(5, src.tree(3)).set_tree(6, src.tree(4))
    msh.set(7, timestamp).set("9.1", "ACK").set("9.2", original["MSH-9.2"])
    msh.set("9.3", "ACK").set(10, control_id)
    msh.set_tree(11, src.tree(11)).set_tree(12, src.tree(12)).set_tree(17, src.tree(17))
    msa = builder.add("MSA").set(1, ack_code(original, outcome)).set(2, acknowledged)
    if error is not None:
        msa.set(3, error.text)
        _add_err(builder.add("ERR"), error, _version(original.version))
    return builder.to_text()


def _add_err(err: SegmentBuilder, error: AckError, version: tuple[int, ...]) -> None:
    code_text = ERROR_CODES.get(error.code, "")
    if version < (2, 5):  # ERR-1, ELD: segment^sequence^field^code&text&HL70357
        if error.segment:
            err.set("1.1", error.segment).set("1.2", str(error.occurrence or 1))
            err.set("1.3", str(error.field or ""))
        err.set("1.4.1", error.code).set("1.4.2", code_text).set("1.4.3", "HL70357")
        return
    if error.segment:  # ERR-2, ERL: segment^sequence^field
        err.set("2.1", error.segment).set("2.2", str(error.occurrence or 1))
        if error.field:
            err.set("2.3", str(error.field))
    err.set("3.1", error.code).set("3.2", code_text).set("3.3", "HL70357")
    err.set(4, error.severity).set(8, error.text)


def build_ack_for_unparsed(
    data: bytes, error: AckError, *, sending_application: str | None = None,
    sending_facility: str | None = None, control_id: str | None = None,
    now: datetime | None = None,
) -> bytes:
    """An AE/AR for bytes that did not parse: header fields are copied when the MSH line can
    be read, else the ACK uses default delimiters, UTF-8 and an empty MSA-2."""
    first_line = data.replace(b"\n", b"\r").split(b"\r", 1)[0]
    try:
        original = parse(first_line)
    except HL7ParseError:
        original = None
    if original is not None:
        return build_ack(original, error, sending_application=sending_application,
                         sending_facility=sending_facility, control_id=control_id, now=now)
    builder = MessageBuilder(DEFAULT_DELIMITERS, "UNICODE UTF-8")
    msh = builder.add("MSH").set(3, sending_application or "PROSTOP").set(4, sending_facility)
    msh.set(7, hl7_timestamp(now)).set("9.1", "ACK").set(10, control_id or new_control_id())
    msh.set(11, "P").set(12, "2.5")
    builder.add("MSA").set(1, "AR" if error.outcome == "reject" else "AE").set(3, error.text)
    _add_err(builder.add("ERR"), error, (2, 5))
    return builder.to_bytes(errors="replace")
