"""Write-back: the issued code sent to the EHR as an HL7 v2 message over MLLP.

An ORU^R01 (or MDM^T02) whose TX (or FT) OBX, LOINC 48767-8, carries the consultation summary
line and the record note, addressed to the patient by PID (host id, INS). With
``write_back_document = "cda"``, an MDM^T02 (or ORU^R01) as the ANS CI-SIS profile
"Transmission de documents CDA en HL7v2" lays it out: the core's CDA R2 note (the document the
MSSanté adapter sends) Base64-encoded in an ED OBX, PID from the document. Its MSH-10 derives
from the issuance id and its dates from the issuance, so every attempt sends the same message:
a receiver that got it once but whose ACK was lost recognises the retry by MSH-10.

The ACK is the one whose MSA-2 echoes that MSH-10. AA/CA gives a receipt; AE/AR/CE/CR, no ACK
in time or no connection raises, and the core's durable outbox retries with bounded backoff and
shows the physician the write-back as pending (then failed). This module keeps no queue.
"""

from __future__ import annotations

import hashlib

from prostop_hl7v2_mllp.settings import ADAPTER_NAME, MLLPSettings
from prostop_plugin import (
    ConfirmationRequest,
    IssuanceRecord,
    Practitioner,
    WriteBackReceipt,
    build_record_note,
    get_texts,
)
from prostop_plugin.hl7.cda_transfer import build_cda_transfer
from prostop_plugin.hl7.er7 import codec_for_charset
from prostop_plugin.hl7.outgoing import WriteBackHeader, build_write_back
from prostop_plugin.hl7.send import MLLPClient, MLLPSendError

CONTROL_ID_PREFIX = "PROSTOP-"
MAX_CONTROL_ID = 20  # MSH-10's length in v2.5


def control_id_for(record_id: str) -> str:
    """The write-back's MSH-10: the same for every attempt for one issuance."""
    candidate = CONTROL_ID_PREFIX + record_id
    if len(candidate) <= MAX_CONTROL_ID:
        return candidate
    return "PS" + hashlib.sha256(record_id.encode()).hexdigest()[: MAX_CONTROL_ID - 2].upper()


#: typographic characters of the texts, spelled for an EHR reading a legacy character set
_TYPOGRAPHIC = {"—": "-", "–": "-", "“": '"', "”": '"', "‘": "'", "’": "'", "…": "...",
                "\u00a0": " ", "\u202f": " ", "œ": "oe", "Œ": "OE", "€": "EUR"}


def fit_charset(line: str, codec: str) -> str:
    """``line`` with the typographic characters ``codec`` cannot hold spelled plainly. Anything
    else it cannot hold stays, and the message then fails visibly (use UTF-8)."""
    try:
        line.encode(codec)
        return line
    except UnicodeEncodeError:
        return "".join(_TYPOGRAPHIC.get(c, c) if not _fits(c, codec) else c for c in line)


def _fits(char: str, codec: str) -> bool:
    try:
        char.encode(codec)
        return True
    except UnicodeEncodeError:
        return False


def note_lines(record: IssuanceRecord, codec: str = "utf-8") -> list[str]:
    """The summary line, a blank line, then the record note's lines."""
    texts = get_texts(record.locale)
    lines = [texts.summary_line(record), "", *texts.record_note(record).splitlines()]
    return [fit_charset(line, codec) for line in lines]


def _confirmer(record: IssuanceRecord) -> Practitioner | None:
    if record.confirmation is not None:
        return record.confirmation.practitioner
    return record.event.practitioner


def _header(config: MLLPSettings) -> WriteBackHeader:
    return WriteBackHeader(
        sending_application=config.sending_application,
        sending_facility=config.sending_facility,
        receiving_application=config.receiving_application,
        receiving_facility=config.receiving_facility,
        charset=config.write_back_charset,
    )


def write_back_message(record: IssuanceRecord, config: MLLPSettings) -> tuple[bytes, str]:
    """The message's bytes and its MSH-10: the note as text, or the CDA R2 note (CI-SIS)."""
    control_id = control_id_for(record.id)
    now = record.issued_at or record.created_at
    if config.write_back_document == "cda":
        data = build_cda_transfer(build_record_note(record).data, _header(config),
                                  message_type=config.write_back_type, control_id=control_id,
                                  now=now)
        return data, control_id
    codec = codec_for_charset(config.write_back_charset)
    data = build_write_back(
        record.event.patient, note_lines(record, codec), _header(config),
        message_type=config.write_back_type, value_type=config.write_back_value_type,
        practitioner=_confirmer(record), control_id=control_id, now=now,
    )
    return data, control_id


def notice_control_id(record_id: str) -> str:
    """The pending notice's MSH-10: stable per issuance, never the write-back's."""
    return "PN" + hashlib.sha256(record_id.encode()).hexdigest()[: MAX_CONTROL_ID - 2].upper()


def notice_message(
    request: ConfirmationRequest, record: IssuanceRecord, link: str, config: MLLPSettings
) -> tuple[bytes, str]:
    """The "confirmation en attente" note (same message type as the write-back) and its
    MSH-10: the decision, its reasons and the console's link to the request."""
    control_id = notice_control_id(record.id)
    codec = codec_for_charset(config.write_back_charset)
    title, lines = get_texts(record.locale).pending_notice(request, link)
    data = build_write_back(
        record.event.patient, [fit_charset(line, codec) for line in (title, *lines)],
        _header(config), message_type=config.write_back_type,
        value_type=config.write_back_value_type, practitioner=record.event.practitioner,
        control_id=control_id, now=record.created_at,
    )
    return data, control_id


def send_message(data: bytes, control_id: str, config: MLLPSettings, what: str) -> str:
    """Send one message to the peer and wait for its ACK; raise unless it is AA/CA.
    Returns a receipt line (peer, MSH-10, ACK code)."""
    host, port = config.peer_address
    with MLLPClient(host, port, connect_timeout=config.connect_timeout,
                    ssl_context=config.peer_ssl_context()) as client:
        reply = client.exchange(data, control_id, config.ack_timeout)
        address = client.address
    if not reply.accepted:
        raise MLLPSendError(
            f"the EHR answered {reply.code or 'an empty MSA-1'}"
            + ("" if what == "write-back" else f" to the {what}")
            + (f": {reply.text}" if reply.text else ""),
            where=f"MLLP peer {address}, MSH-10 {control_id}",
            fix="see why in the EHR's interface log; the message is sent again with the same "
            "MSH-10",
        )
    kind = config.write_back_type + (" (CDA R2)" if config.write_back_document == "cda" else "")
    return f"MLLP {address}|{kind} MSH-10 {control_id}, ACK {reply.code}"


def send_write_back(record: IssuanceRecord, config: MLLPSettings) -> WriteBackReceipt:
    """Send the write-back and wait for its ACK; raise unless it is AA/CA."""
    data, control_id = write_back_message(record, config)
    target, _, detail = send_message(data, control_id, config, "write-back").partition("|")
    return WriteBackReceipt(adapter=ADAPTER_NAME, target=target, detail=detail)


def send_notice(
    request: ConfirmationRequest, record: IssuanceRecord, link: str, config: MLLPSettings
) -> str:
    """Send the pending notice to the peer (once: the request stays in the console anyway)."""
    data, control_id = notice_message(request, record, link, config)
    return send_message(data, control_id, config, "pending notice")
