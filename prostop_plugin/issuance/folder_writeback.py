"""A generic write-back: one JSON file per issued code in a folder the host imports from.

For hosts integrated through the plugin's own JSON events (no HL7, no file-drop adapter), and
as a last resort for every record no adapter took: enabled by ``[write_back] folder = "…"``.
The file holds the code in clear because it *is* the host's copy (like the patient record);
it is written atomically with mode 0600, and named after the issuance id so a repeated
write-back after a crash replaces it instead of adding a second one.
"""

from __future__ import annotations

import json
from pathlib import Path

from prostop_plugin.fileio import write_atomically
from prostop_plugin.hooks import hookimpl
from prostop_plugin.models import IssuanceRecord, WriteBackReceipt
from prostop_plugin.texts import get_texts


class FolderWriteBack:
    """Writes ``<issuance id>.json`` into ``folder`` for any record (tried last)."""

    name = "outbox_folder"

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @hookimpl(trylast=True)
    def prostop_write_back(self, record: IssuanceRecord) -> WriteBackReceipt | None:
        if record.code is None:
            return None
        texts = get_texts(record.locale)
        payload = {
            "issuance_id": record.id,
            "source": record.event.source.model_dump(mode="json"),
            "patient": record.event.patient.model_dump(mode="json"),
            "code": record.code.get_secret_value(),
            "valid_from": record.valid_from.isoformat() if record.valid_from else None,
            "valid_until": record.valid_until.isoformat() if record.valid_until else None,
            "decision": record.decision.decision if record.decision else None,
            "summary_line": texts.summary_line(record),
            "record_note": texts.record_note(record),
        }
        path = self.folder / f"{record.id}.json"
        write_atomically(path, json.dumps(payload, ensure_ascii=False, indent=2).encode())
        return WriteBackReceipt(adapter=self.name, target=str(path))
