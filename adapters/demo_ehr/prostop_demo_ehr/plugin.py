"""The demo EHR's integration with prostop-plugin: the hooks a vendor implements.

Registered by the entry point ``demo_ehr = "prostop_demo_ehr.plugin"`` (this module, with the
hooks of one :class:`DemoEhrPlugin` bound at module level); tests register their own instance.

How each hook is answered, and why:

* ``prostop_background_services`` — the web EHR itself (uvicorn in a thread, loopback).
* ``prostop_confirm_issuance`` — returns ``None``. A web host cannot hold a server thread until
  a physician clicks: the request waits in the ledger (state ``awaiting_confirmation``) and the
  EHR shows the dialog from ``engine.confirmation_request`` — at once on the consultation
  screen that recorded it, or as a banner and on the pending page when it came from a channel
  without a screen. The hook is where the EHR hears of those: it keeps their ids for the banner.
  A request from another host that has its own confirmation screen
  (``AdapterInfo.has_confirmation_ui``, told by ``request.source.adapter``) is that host's to
  show: the EHR ignores it.
  The physician's answer goes to ``engine.decide``.
* ``prostop_practitioner_token`` — the token of the PSC login of the session that made the
  decision (:class:`~prostop_plugin.psc.HostTokenStore`, keyed by session: the work a browser
  starts runs inside ``tokens.session(its session)``); another session's token is never
  offered. When it has expired (PSC tokens live ~2 min), or for work no session started,
  ``None`` lets the plugin's CIBA fallback ask again, showing the dialog's two digits. The
  plugin verifies every token it is given (PSC's signature, the confirming physician, …).
* ``prostop_write_back`` — the note into the patient record and the line into the
  consultation summary, in the EHR's own database; idempotent by issuance id.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from prostop_demo_ehr.settings import ADAPTER_NAME, EhrSettings, load_ehr_settings
from prostop_demo_ehr.store import EhrStore
from prostop_plugin import (
    AccessToken,
    AdapterInfo,
    ConfirmationDecision,
    ConfirmationRequest,
    HostTokenStore,
    IssuanceRecord,
    Practitioner,
    Settings,
    WriteBackReceipt,
    get_texts,
    hookimpl,
)

if TYPE_CHECKING:
    from prostop_plugin import BackgroundService, Prostop


class UnknownPatient(LookupError):
    """A write-back for a patient this EHR does not have (left in the outbox, shown)."""


class DemoEhrPlugin:
    """The hooks, and what they share: settings, the EHR database, the PSC tokens."""

    def __init__(self) -> None:
        self.settings: Settings | None = None
        self.ehr_settings: EhrSettings = EhrSettings()
        self.tokens = HostTokenStore()
        self._store: EhrStore | None = None
        self._lock = threading.Lock()
        self._new_requests: list[str] = []
        #: other adapters showing their own confirmation dialog (learnt when the EHR starts)
        self._other_screens: frozenset[str] = frozenset()

    def store(self) -> EhrStore:
        """The EHR database, opened on first use (``prostop_configure`` must have run)."""
        with self._lock:
            if self._store is None:
                if self.settings is None:
                    raise RuntimeError("the demo EHR plugin was not configured")
                self._store = EhrStore(self.ehr_settings.database_path(self.settings))
            return self._store

    def take_new_requests(self) -> list[str]:
        """Ids of confirmation requests announced since the last call (for the banner)."""
        with self._lock:
            taken, self._new_requests = self._new_requests, []
        return taken

    def announces(self, request: ConfirmationRequest) -> bool:
        """Its own requests, and those from channels without a screen (HL7, files), go to the
        banner; another host's requests are for that host's own dialog."""
        adapter = request.source.adapter
        return adapter == ADAPTER_NAME or adapter not in self._other_screens

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None

    # -- hooks -------------------------------------------------------------------------------

    @hookimpl
    def prostop_configure(self, settings: Settings) -> None:
        self.ehr_settings = load_ehr_settings(settings)  # a bad port fails at start-up
        self.settings = settings
        self.tokens.refresh_margin = settings.psc.token_refresh_margin

    @hookimpl
    def prostop_register_adapters(self, register: Callable[[AdapterInfo], None]) -> None:
        register(AdapterInfo(
            name=ADAPTER_NAME, title="Logiciel de cabinet de démonstration (web)",
            description="Reference host: patient record, consultation, confirmation dialog, "
            "handout, pending confirmations; imports HL7 v2, HPRIM and CDA files.",
            has_confirmation_ui=True, formats=["ui", "hl7v2", "hprim", "cda"],
        ))

    @hookimpl
    def prostop_background_services(self, runtime: Prostop) -> list[BackgroundService]:
        from prostop_demo_ehr.service import EhrWebService

        self._other_screens = frozenset(
            a.name for a in runtime.hooks.adapters()
            if a.has_confirmation_ui and a.name != ADAPTER_NAME
        )
        return [EhrWebService(runtime, self)]

    @hookimpl
    def prostop_confirm_issuance(self, request: ConfirmationRequest) -> ConfirmationDecision | None:
        if self.announces(request):
            with self._lock:
                self._new_requests.append(request.issuance_id)
        return None

    @hookimpl
    def prostop_practitioner_token(
        self, practitioner: Practitioner, binding_message: str
    ) -> AccessToken | None:
        return self.tokens.prostop_practitioner_token(practitioner, binding_message)

    @hookimpl
    def prostop_write_back(self, record: IssuanceRecord) -> WriteBackReceipt | None:
        if record.event.source.adapter != ADAPTER_NAME:
            return None
        store = self.store()
        patient = store.patient(record.patient.host_patient_id)
        if patient is None:
            raise UnknownPatient(f"no patient {record.patient.host_patient_id} in the demo EHR")
        texts = get_texts(record.locale)
        consultation = store.write_back(
            record.id, patient.id, texts.record_note(record), texts.summary_line(record)
        )
        where = f"dossier {patient.id}" + (f", consultation {consultation}" if consultation else "")
        return WriteBackReceipt(adapter=ADAPTER_NAME, target=where,
                                detail="note au dossier patient et ligne de synthèse")


#: the instance the entry point registers
plugin = DemoEhrPlugin()
