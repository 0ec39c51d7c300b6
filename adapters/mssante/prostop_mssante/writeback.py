"""Write-back: the issued code as an MSSanté message to the confirming physician.

The message (Référentiel socle MSSanté #2, IHE XDM "zip over e-mail") carries:

* ``IHE_XDM.ZIP`` (``application/zip``): the CDA R2 note (``build_cda_note``: FR-Commentaire-ER
  entry, the patient's identifiers as the source gave them, the physician as author) with its
  ``METADATA.XML``, ``INDEX.HTM`` and ``README.TXT`` (:mod:`.xdm`);
* ``X-MSS-CODECDA`` — the CDA's ``code`` (ECO.2.4.1); ``X-MSS-INS`` — ``O`` when the patient's
  INS is qualified, else ``N`` (ECO.2.4.2); ``X-MSS-NIL`` — the product reference when set
  (ECO.2.4.3);
* the subject ``XDM/1.0/DDM+<title> <NOM> <prénom> <date de naissance>`` and a short text part
  that does not hold the code (it is in the note only).

Everything is derived from the issuance: the Message-ID (``<token>.prostop@<domain>``), the
document id, the package's bytes. A write-back sent again after a crash or a lost answer is the
same message, which the physician's software (and the physician) can recognise.
"""

from __future__ import annotations

import base64
import smtplib
import ssl
import uuid
from email.message import EmailMessage
from email.utils import format_datetime

from prostop_mssante.metadata import DocumentInfo, qualified_ins
from prostop_mssante.settings import ADAPTER_NAME, MssanteSettings
from prostop_mssante.texts import write_back_body
from prostop_mssante.xdm import ATTACHMENT_NAME, DOCUMENT_NAME, build_package, created_at
from prostop_plugin import (
    PARIS,
    IssuanceRecord,
    Practitioner,
    ProstopError,
    WriteBackReceipt,
    build_record_note,
    utcnow,
)

SUBJECT_PREFIX = "XDM/1.0/DDM+"
ISSUANCE_HEADER = "X-Prostop-Issuance"
_IDS = uuid.uuid5(uuid.NAMESPACE_URL, "urn:prostop-plugin:mssante:write-back")


class SendError(ProstopError):
    """The write-back message could not be handed to the operator's SMTP server."""


def message_id(record_id: str, address: str) -> str:
    """``<26 base32 characters>.prostop@<the mailbox's domain>``: derived from the issuance,
    and short enough that the header is not folded for domains up to 29 characters."""
    digest = uuid.uuid5(_IDS, "message:" + record_id).bytes
    token = base64.b32encode(digest).decode("ascii").rstrip("=").lower()
    return f"<{token}.prostop@{address.rpartition('@')[2]}>"


def _confirmer(record: IssuanceRecord) -> Practitioner | None:
    if record.confirmation is not None:
        return record.confirmation.practitioner
    return record.event.practitioner


def note_document(record: IssuanceRecord) -> DocumentInfo:
    """The CDA R2 note (the core's :func:`build_record_note`, the same document the HL7 v2
    adapter sends) and what its document entry says about it."""
    note = build_record_note(record)
    return DocumentInfo(
        file_name=DOCUMENT_NAME, data=note.data, unique_id=note.document_id,
        type_code=note.code, title=note.title, created=created_at(note.created),
        patient=record.event.patient, author=note.author,
    )


def _subject(title: str, record: IssuanceRecord) -> str:
    patient = record.event.patient
    parts = [title, patient.family_name or "", patient.given_name or "",
             f"{patient.birth_date:%d/%m/%Y}" if patient.birth_date else ""]
    return SUBJECT_PREFIX + " ".join(" ".join(p.split()) for p in parts if p)


def build_message(record: IssuanceRecord, config: MssanteSettings) -> EmailMessage:
    """The write-back message for ``record`` (deterministic but for its Date header)."""
    physician = _confirmer(record)
    recipient = config.recipient(physician.rpps if physician else None)
    document = note_document(record)
    package = build_package(document, issuance_id=record.id, sender=config.address,
                            recipient=(physician, recipient))
    message = EmailMessage()
    message["From"] = config.address
    message["To"] = recipient
    message["Subject"] = _subject(document.title, record)
    message["Date"] = format_datetime(utcnow().astimezone(PARIS))
    message["Message-ID"] = message_id(record.id, config.address)
    message["X-MSS-CODECDA"] = document.type_code[0]
    message["X-MSS-INS"] = "O" if qualified_ins(record.event.patient) else "N"
    if config.nil:
        message["X-MSS-NIL"] = config.nil
    message[ISSUANCE_HEADER] = record.id
    message.set_content(write_back_body(record.locale, issuance=record.id,
                                        patient=record.event.patient.display_name()))
    message.add_attachment(package, maintype="application", subtype="zip",
                           filename=ATTACHMENT_NAME)
    return message


def send(message: EmailMessage, config: MssanteSettings) -> None:
    """Hand the message to the operator's SMTP server over TLS (certificate verified)."""
    context = config.ssl_context()
    secret = config.secret()
    try:
        if config.smtp_tls == "implicit":
            server: smtplib.SMTP = smtplib.SMTP_SSL(config.smtp_host, config.smtp_port,
                                                    context=context, timeout=config.timeout)
        else:
            server = smtplib.SMTP(config.smtp_host, config.smtp_port, timeout=config.timeout)
            server.starttls(context=context)
        with server:
            if secret is not None:
                server.login(config.user, secret)
            server.send_message(message)
    except (OSError, ssl.SSLError, smtplib.SMTPException) as exc:
        raise SendError(
            f"the write-back message was not accepted: {type(exc).__name__}: {exc}",
            where=f"smtp://{config.smtp_host}:{config.smtp_port} ({config.user})",
            fix="check smtp_host/smtp_port/smtp_tls, the login and certificate; it is sent "
            "again automatically (same Message-ID)",
        ) from None


def write_back(record: IssuanceRecord, config: MssanteSettings) -> WriteBackReceipt:
    """Send the note to the confirming physician; raise when it cannot be sent (the core then
    retries from its outbox and shows the physician the write-back as pending)."""
    message = build_message(record, config)
    send(message, config)
    return WriteBackReceipt(
        adapter=ADAPTER_NAME, target=f"mssante:{message['To']}", written_at=utcnow(),
        detail=f"CDA R2 note in {ATTACHMENT_NAME}, Message-ID {message['Message-ID']}",
    )
