"""The plugin: what ``prostop`` loads for ``adapters = ["filedrop"]`` (entry point group
``prostop``, name ``filedrop``).

It provides the inbox watcher (:func:`prostop_background_services`, run by ``prostop serve``)
and the write-back (:func:`prostop_write_back`) for records whose event came through it. It
has no confirmation UI, so it does not implement ``prostop_confirm_issuance``: requests wait
in the pending queue (the console, ``prostop pending``), and :func:`prostop_notify_pending`
drops a notice with the console's link into the outbox for the patient's record.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from prostop_filedrop.notice import write_notice
from prostop_filedrop.service import InboxService
from prostop_filedrop.settings import ADAPTER_NAME, FiledropSettings, load_filedrop_settings
from prostop_filedrop.writeback import write_back
from prostop_plugin import (
    AdapterInfo,
    BackgroundService,
    ConfigError,
    ConfirmationRequest,
    IssuanceRecord,
    Prostop,
    Settings,
    WriteBackReceipt,
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


class FiledropPlugin:
    """Holds the validated ``[adapter.filedrop]`` section between hook calls."""

    def __init__(self) -> None:
        self.config: FiledropSettings | None = None

    def _config(self) -> FiledropSettings:
        if self.config is None:
            raise ConfigError("the file-drop adapter was not configured",
                              fix="it is configured at start-up from [adapter.filedrop]")
        return self.config

    @hookimpl
    def prostop_configure(self, settings: Settings) -> None:
        self.config = load_filedrop_settings(settings)

    @hookimpl
    def prostop_register_adapters(self, register: Callable[[AdapterInfo], None]) -> None:
        register(INFO)

    @hookimpl
    def prostop_background_services(self, runtime: Prostop) -> list[BackgroundService]:
        return [InboxService(runtime, load_filedrop_settings(runtime.settings))]

    @hookimpl
    def prostop_writable_paths(self, settings: Settings) -> list[Path]:
        return [path for _, path in load_filedrop_settings(settings).folders().named()]

    @hookimpl
    def prostop_write_back(self, record: IssuanceRecord) -> WriteBackReceipt | None:
        if record.event.source.adapter != ADAPTER_NAME or record.code is None:
            return None
        return write_back(record, self._config())

    @hookimpl
    def prostop_notify_pending(
        self, request: ConfirmationRequest, record: IssuanceRecord, link: str
    ) -> None:
        if record.event.source.adapter == ADAPTER_NAME:
            write_notice(request, record, link, self._config())


#: the entry point's object (one per process; each runtime configures it at start)
plugin = FiledropPlugin()
