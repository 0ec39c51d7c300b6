"""Read one MSSanté message and hand its COVID-relevant events to the core.

A message is read from its raw bytes (RFC 5322, as fetched over IMAP): its ``IHE_XDM.ZIP``
attachments are opened as hostile input (:mod:`.xdm`), each CDA document they list is read by
the core's CDA reader, and the patient identity is checked against the ``X-MSS-INS`` header
(Référentiel socle MSSanté #2, ECO.2.4.2: ``O`` when the archive carries a qualified INS,
``N`` otherwise):

* ``O`` — every document must carry an INS whose key checks out, under an INS OID, else the
  message is unusable (the sender claims an identity the document does not hold);
* ``N`` — an INS found in a document is kept as a carried NIR, never asserted as qualified;
* absent (older senders) — the document alone decides, as for a file.

A document entry's ``patientId`` in ``METADATA.XML`` naming another INS than the CDA is
unusable too. This module changes no mailbox: it says what became of the message
(:class:`prostop_plugin.IntakeResult`) and the service files it accordingly. Logs name no patient.
"""

from __future__ import annotations

import email
import email.policy
import logging
from email.message import EmailMessage

from prostop_mssante.settings import ADAPTER_NAME, MssanteSettings
from prostop_mssante.xdm import ATTACHMENT_NAME, XdmDocument, read_package
from prostop_plugin import (
    DiagnosisEvent,
    InputError,
    IntakeOutcome,
    IntakeResult,
    Prostop,
    read_bytes,
    reader_failure,
    record_received,
)
from prostop_plugin.hl7.cda import INS_OIDS

log = logging.getLogger(__name__)

_RESEND = "ask the sender to send the message again"


def parse_message(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def header(message: EmailMessage, name: str) -> str | None:
    """A header's value, or ``None``; a header too damaged to decode reads as absent."""
    try:
        value = message.get(name)
    except Exception:
        return None
    return str(value).strip() if value is not None else None


def xdm_attachments(message: EmailMessage, where: str) -> list[tuple[str, bytes]]:
    """The ``IHE_XDM.ZIP`` attachments (name compared case-insensitively)."""
    found = []
    for part in message.walk():
        if part.is_multipart():
            continue
        try:
            name = part.get_filename() or ""
        except Exception:
            continue
        if name.strip().upper() != ATTACHMENT_NAME:
            continue
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes) or not payload:
            raise InputError("the IHE_XDM.ZIP attachment is empty or cannot be decoded",
                             where=where, fix=_RESEND)
        found.append((name, payload))
    return found


def _ins_of(cx: str | None) -> tuple[str, str] | None:
    """(INS, OID) from a ``INS^^^&OID&ISO^NH`` patient id, when it names an INS OID."""
    if not cx:
        return None
    number, _, rest = cx.partition("^^^&")
    oid = rest.split("&", 1)[0]
    return (number.strip(), oid) if oid in INS_OIDS else None


def checked_identity(events: list[DiagnosisEvent], document: XdmDocument,
                     ins_header: str | None, where: str) -> list[DiagnosisEvent]:
    """The events with the patient identity the header and metadata allow (see module)."""
    listed = _ins_of(document.listed.patient_id)
    checked = []
    for event in events:
        patient = event.patient
        qualified = bool(patient.ins) and patient.ins_oid in INS_OIDS
        if ins_header == "O" and not qualified:
            raise InputError(
                "the message says it carries a qualified INS (X-MSS-INS: O) but the CDA "
                "document has no INS under an INS OID, or its key is wrong", where=where,
                fix="ask the sender to check the patient's INS and send the document again",
            )
        if listed is not None and qualified and listed[0] != patient.ins:
            raise InputError("METADATA.XML and the CDA document name different patients "
                             "(INS differ)", where=where, fix=_RESEND)
        if ins_header == "N" and patient.ins_oid is not None:
            event = event.model_copy(update={
                "patient": patient.model_copy(update={"ins_oid": None})})
        checked.append(event)
    return checked


def read_events(raw: bytes, label: str, config: MssanteSettings) -> list[DiagnosisEvent]:
    """The message's events. :class:`InputError` (what, where, fix) when it cannot be used."""
    if len(raw) > config.max_message_bytes:
        raise InputError(f"the message is larger than {config.max_message_bytes} bytes "
                         "(setting adapter.mssante.max_message_bytes)", where=label,
                         fix="check it is a lab report; raise the setting if such reports "
                         "are expected")
    message = parse_message(raw)
    attachments = xdm_attachments(message, label)
    if not attachments:
        raise InputError(
            "the message has no IHE_XDM.ZIP attachment, so it holds no document prostop reads",
            where=label, fix="this mailbox is for lab reports sent as CDA in IHE_XDM.ZIP "
            "(MSSanté); forward other messages to the practice's own mailbox",
        )
    raw_header = header(message, "X-MSS-INS")
    ins_header = raw_header.upper() if raw_header else None
    if ins_header not in (None, "O", "N"):
        log.warning("%s: X-MSS-INS has an unexpected value; the documents alone decide", label)
        ins_header = None
    events: list[DiagnosisEvent] = []
    for name, data in attachments:
        for document in read_package(data, f"{label}: {name}", config.archive):
            where = f"{label}: {name}: {document.path}"
            read = read_bytes(document.data, where, adapter=ADAPTER_NAME)
            events += checked_identity(read, document, ins_header, where)
    return events


def take_in(raw: bytes, label: str, runtime: Prostop, config: MssanteSettings) -> IntakeResult:
    """Read the message and record its COVID-relevant events durably (deduplicated)."""
    try:
        events = read_events(raw, label, config)
    except InputError as exc:
        return IntakeResult(IntakeOutcome.UNUSABLE, problem=exc)
    except Exception as exc:  # a reader bug: keep the message aside, the traceback in the log
        return reader_failure(exc, label, "message")
    return record_received(runtime, events, label, adapter=ADAPTER_NAME,
                           host=config.host or runtime.settings.host_name)
