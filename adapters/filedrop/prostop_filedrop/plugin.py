"""The plugin: what ``prostop`` loads for ``adapters = ["filedrop"]`` (entry point group
``prostop``, name ``filedrop``).

It provides the inbox watcher (:func:`prostop_background_services`, run by ``prostop serve``)
and the write-back (:func:`prostop_write_back`) for records whose event came through it. It
has no confirmation UI, so it does not implement ``prostop_confirm_issuance``: requests wait
in the pending queue (the console, ``prostop pending``), and :func:`prostop_notify_pending`
drops a notice with the console's link into the outbox for the patient's record.
"""

from __future__ import annotations

from pathlib import Path

from prostop_filedrop.notice import write_notice
from prostop_filedrop.service import InboxService
from prostop_filedrop.settings import ADAPTER_NAME, FiledropSettings, load_filedrop_settings
from prostop_filedrop.writeback import write_back
from prostop_plugin import (
    AdapterInfo,
    AdapterPlugin,
    Settings,
    hookimpl,
)

INFO = AdapterInfo(
    name=ADAPTER_NAME,
    title="Dépôt de fichiers HPRIM / HL7 / CDA (file drop)",
    description="Lit les fichiers de résultats déposés dans un dossier (HPRIM médecin, HPRIM "
    "Santé, HL7 v2, CDA R2) et dépose le code en retour dans un dossier d'import du logiciel "
    "(CDA R2 et/ou HPRIM). Reads result files dropped in a folder and writes the code back "
    "as import files (CDA R2 and/or HPRIM) for the EHR.",
    has_confirmation_ui=False,
    formats=["hprim", "hl7v2", "cda", "json"],
)


class FiledropPlugin(AdapterPlugin[FiledropSettings]):
    """Holds the validated ``[adapter.filedrop]`` section between hook calls."""

    def __init__(self) -> None:
        super().__init__(INFO, load_filedrop_settings, label="file-drop", service=InboxService,
                         write_back=write_back, notice=write_notice)

    @hookimpl
    def prostop_writable_paths(self, settings: Settings) -> list[Path]:
        return [path for _, path in load_filedrop_settings(settings).folders().named()]


#: the entry point's object (one per process; each runtime configures it at start)
plugin = FiledropPlugin()
