"""Write-back: the issued code as import files in the outbox the EHR imports from.

Names are stable per issuance (``prostop-<issuance id>.xml`` / ``.hpr``) and so is the
content (document id, dates): a write-back repeated after a crash replaces the file with the
same bytes instead of adding a second one, and an EHR that already imported the first copy
can recognise the second by its document id (CDA) or file number (HPRIM).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path

from prostop_filedrop.settings import ADAPTER_NAME, FiledropSettings
from prostop_plugin import (
    PARIS,
    ConfigError,
    IssuanceRecord,
    Practitioner,
    WriteBackReceipt,
    build_cda_note,
    build_hprim_report,
    get_texts,
    utcnow,
    write_atomically,
)

#: the EHR's import account must be able to read the files (same user, or this group)
FILE_MODE = 0o640
HPRIM_SENDER = "PROSTOP prostop-plugin"
EXTENSIONS = {"cda": ".xml", "hprim": ".hpr"}
_DOCUMENT_IDS = uuid.uuid5(uuid.NAMESPACE_URL, "urn:prostop-plugin:filedrop:write-back")


def outbox_path(outbox: Path, record_id: str, fmt: str) -> Path:
    return outbox / f"prostop-{record_id}{EXTENSIONS[fmt]}"


def document_id(record_id: str) -> str:
    """A UUID derived from the issuance id: the same document every time it is written."""
    return str(uuid.uuid5(_DOCUMENT_IDS, record_id))


def _note_lines(record: IssuanceRecord) -> list[str]:
    texts = get_texts(record.locale)
    return [texts.summary_line(record), texts.record_note(record)]


def _confirmer(record: IssuanceRecord) -> Practitioner | None:
    if record.confirmation is not None:
        return record.confirmation.practitioner
    return record.event.practitioner


def _issued_at(record: IssuanceRecord) -> datetime:
    return record.issued_at or record.valid_from or record.updated_at


def cda_document(record: IssuanceRecord) -> bytes:
    """A CDA R2 note (FR-Commentaire-ER) addressed with the patient's ids from the source."""
    message_id = record.event.source.message_id
    return build_cda_note(
        patient=record.event.patient,
        note_lines=_note_lines(record),
        title=get_texts(record.locale).text("note.title"),
        author=_confirmer(record),
        document_id=document_id(record.id),
        effective_time=_issued_at(record),
        source_document_ids=[message_id] if message_id else [],
    )


def hprim_document(record: IssuanceRecord, encoding: str) -> bytes:
    """An HPRIM médecin text report (header lines for patient matching, then the note)."""
    confirmer = _confirmer(record)
    return build_hprim_report(
        patient=record.event.patient,
        note_lines=_note_lines(record),
        title=get_texts(record.locale).text("note.title"),
        sender=HPRIM_SENDER,
        recipient=confirmer if confirmer is not None else "",
        date=_issued_at(record).astimezone(PARIS).date(),
        encoding=encoding,
        file_number=record.id,
    )


def write_back(record: IssuanceRecord, config: FiledropSettings) -> WriteBackReceipt:
    """Write one import file per configured format; raise when any cannot be written (the
    core then retries from its outbox and shows the physician the write-back as pending)."""
    outbox = config.outbox
    if not outbox.is_dir():
        raise ConfigError(
            "the outbox folder does not exist", where=f"adapter.filedrop.outbox = {outbox}",
            fix="create it (the folder the EHR imports from), or correct the setting",
        )
    written: list[Path] = []
    for fmt in config.formats():
        data = cda_document(record) if fmt == "cda" else hprim_document(
            record, config.hprim_encoding
        )
        path = outbox_path(outbox, record.id, fmt)
        write_atomically(path, data, mode=FILE_MODE)
        written.append(path)
    detail = " + ".join(
        "CDA R2 note" if fmt == "cda" else f"HPRIM report ({config.hprim_encoding})"
        for fmt in config.formats()
    )
    return WriteBackReceipt(adapter=ADAPTER_NAME, target=", ".join(str(p) for p in written),
                            written_at=utcnow(), detail=detail)
