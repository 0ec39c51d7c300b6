"""The "confirmation en attente" notice: an import file in the outbox, with the console link.

Written when a request from this adapter starts waiting for a physician
(``prostop_notify_pending``), in the formats the write-back uses, under names of their own
(``prostop-<issuance id>-attente.hpr`` / ``.xml``) and with a document id of their own, so the
EHR files it as a separate document in the patient's record and the code's write-back later
never replaces it.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from prostop_filedrop.settings import FiledropSettings
from prostop_filedrop.writeback import EXTENSIONS, FILE_MODE, HPRIM_SENDER, document_id
from prostop_plugin import (
    PARIS,
    ConfigError,
    ConfirmationRequest,
    IssuanceRecord,
    build_cda_note,
    build_hprim_report,
    get_texts,
    write_atomically,
)

NOTICE_SUFFIX = "-attente"


def notice_path(outbox: Path, record_id: str, fmt: str) -> Path:
    return outbox / f"prostop-{record_id}{NOTICE_SUFFIX}{EXTENSIONS[fmt]}"


def notice_document_id(record_id: str) -> str:
    """Stable per issuance, and not the write-back's (another document in the record)."""
    return str(uuid.uuid5(uuid.UUID(document_id(record_id)), "pending-notice"))


def write_notice(
    request: ConfirmationRequest, record: IssuanceRecord, link: str, config: FiledropSettings
) -> list[Path]:
    """Write the notice in each configured format; return the files written.

    :raises ConfigError: when the outbox folder does not exist.
    """
    outbox = config.outbox
    if not outbox.is_dir():
        raise ConfigError(
            "the outbox folder does not exist", where=f"adapter.filedrop.outbox = {outbox}",
            fix="create it (the folder the EHR imports from), or correct the setting",
        )
    title, lines = get_texts(record.locale).pending_notice(request, link)
    written: list[Path] = []
    for fmt in config.formats():
        if fmt == "cda":
            message_id = record.event.source.message_id
            data = build_cda_note(
                patient=record.event.patient, note_lines=lines, title=title,
                author=record.event.practitioner, document_id=notice_document_id(record.id),
                effective_time=record.created_at,
                source_document_ids=[message_id] if message_id else [],
            )
        else:
            practitioner = record.event.practitioner
            data = build_hprim_report(
                patient=record.event.patient, note_lines=lines, title=title,
                sender=HPRIM_SENDER, recipient=practitioner if practitioner is not None else "",
                date=record.created_at.astimezone(PARIS).date(),
                encoding=config.hprim_encoding, file_number=f"{record.id}-A",
            )
        path = notice_path(outbox, record.id, fmt)
        write_atomically(path, data, mode=FILE_MODE)
        written.append(path)
    return written
