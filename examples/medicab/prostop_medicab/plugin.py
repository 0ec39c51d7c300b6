"""The MediCab adapter: what ``adapters = ["medicab"]`` loads (entry point group ``prostop``,
name ``medicab``, the instance :data:`plugin`).

* ``prostop_configure`` — reads ``[adapter.medicab]``; bad settings stop the runtime at start;
* ``prostop_register_adapters`` — describes the adapter (``prostop doctor``);
* ``prostop_write_back`` — the code as a note file in MediCab's import folder, for MediCab's
  own records only; the same file (name and bytes) at every attempt, so a replay changes
  nothing; raises when the folder is missing, and the core retries from its outbox.

MediCab shows the confirmation dialog itself (``Prostop.record`` hands it the request), so
the adapter has no ``prostop_confirm_issuance``.
"""

from __future__ import annotations

from collections.abc import Callable

from prostop_medicab.settings import ADAPTER_NAME, MedicabSettings, load_medicab_settings
from prostop_plugin import (
    AdapterInfo,
    ConfigError,
    IssuanceRecord,
    Settings,
    WriteBackReceipt,
    get_texts,
    hookimpl,
    write_atomically,
)


class MedicabPlugin:
    """Holds the validated ``[adapter.medicab]`` section between hook calls."""

    def __init__(self) -> None:
        self.config: MedicabSettings | None = None

    @hookimpl
    def prostop_configure(self, settings: Settings) -> None:
        self.config = load_medicab_settings(settings)

    @hookimpl
    def prostop_register_adapters(self, register: Callable[[AdapterInfo], None]) -> None:
        register(AdapterInfo(
            name=ADAPTER_NAME, title="MediCab", has_confirmation_ui=True, formats=["ui"],
            description="Le code est déposé en note dans le dossier d'import de MediCab.",
        ))

    @hookimpl
    def prostop_write_back(self, record: IssuanceRecord) -> WriteBackReceipt | None:
        if record.event.source.adapter != ADAPTER_NAME or record.code is None:
            return None  # another adapter's record
        if self.config is None:
            raise ConfigError("the MediCab adapter was not configured",
                              fix="it is configured at start-up from [adapter.medicab]")
        folder = self.config.import_dir
        if not folder.is_dir():  # a share not mounted: raise, the outbox retries later
            raise FileNotFoundError(f"MediCab's import folder {folder} is not there")
        texts = get_texts(record.locale)
        note = f"{texts.summary_line(record)}\n\n{texts.record_note(record)}\n"
        path = folder / f"medicab-{record.id}.txt"  # stable name: a replay rewrites the same
        write_atomically(path, note.encode("utf-8"), mode=0o640)
        return WriteBackReceipt(adapter=ADAPTER_NAME, target=str(path))


#: the entry point's object
plugin = MedicabPlugin()
