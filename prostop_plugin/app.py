"""The runtime: configuration, keys, ledger (with its audit chain), plugins and the engine.

A host integrating in-process (the reference EHR, a vendor's own code) does::

    with Prostop.open(load_settings(), plugins=[MyHostPlugin()], resume_every=5) as prostop:
        recorded = prostop.record(event)            # returns at once: durable and evaluated
        if recorded.confirmation is not None:       # show the dialog; later, on the answer:
            prostop.decide_later(recorded.issuance_id, decision)   # returns at once too

and hears of the code through ``prostop_issuance_changed`` (see :mod:`prostop_plugin.host_api`).
Scripts and adapters without a UI may use the synchronous path,
``prostop.hooks.diagnosis_recorded(event)``, which runs the flow on the caller's thread.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from types import TracebackType

import pluggy

from prostop_plugin.audit.plugin import record_observer_failure, record_set_aside
from prostop_plugin.audit.table import AuditTable
from prostop_plugin.codewatch import CodeWatchPlugin, SeenCodes
from prostop_plugin.config import Settings
from prostop_plugin.errors import ConfigError
from prostop_plugin.fileio import private_directory
from prostop_plugin.host_api import (
    DEFAULT_THREADS,
    Recorded,
    RuntimeWorker,
    decide_later,
    record_event,
)
from prostop_plugin.issuance import IssuanceEngine, IssuancePlugin
from prostop_plugin.issuance.folder_writeback import FolderWriteBack
from prostop_plugin.issuance.trail import AuditTrail
from prostop_plugin.issuers.prostopcovid import ProStopCovidPlugin
from prostop_plugin.keys import KeyRing
from prostop_plugin.ledger import Ledger
from prostop_plugin.models import (
    ConfirmationDecision,
    DiagnosisEvent,
    IssuanceRecord,
    utcnow,
)
from prostop_plugin.plugins import (
    HookFacade,
    check_hookimpls,
    load_entry_point_plugins,
    load_module_plugins,
    new_plugin_manager,
    register_plugins,
)
from prostop_plugin.psc import PSCTokenPlugin
from prostop_plugin.telemetry import MetricsObserver

log = logging.getLogger(__name__)


def prepare_data_dir(settings: Settings) -> None:
    """Create ``data_dir`` for its owner only (0700), as ``prostop init`` does."""
    try:
        private_directory(settings.data_dir)
    except OSError as exc:
        raise ConfigError(
            f"cannot create the data folder ({exc.strerror})",
            where=f"setting 'data_dir' = {settings.data_dir}",
            fix="create it (mkdir -m 700) or point data_dir to a writable folder",
        ) from exc


class Prostop:
    """Everything a process needs to run the flow. Close it (or use ``with``) when done.

    :param plugins: the host's own plugin objects, registered as they are. An adapter is
        either given here or loaded by its entry point (``adapters = [...]``); given both
        ways, it is registered once.
    :param worker_threads: threads of the runtime's worker (:meth:`record`,
        :meth:`decide_later`), started on first use.
    :param resume_every: when set, the worker also resumes every unfinished issuance every
        this many seconds (due write-backs, expiries), as ``prostop serve`` does.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        plugins: Sequence[object] = (),
        clock: Callable[[], datetime] = utcnow,
        worker_threads: int = DEFAULT_THREADS,
        resume_every: float | None = None,
    ) -> None:
        self.settings = settings
        prepare_data_dir(settings)
        self.keyring = KeyRing.open(settings.key_dir)
        # the audit chain lives in the ledger: each step commits with its entries
        chain = AuditTable(self.keyring)
        self.ledger = Ledger(settings.ledger_location, self.keyring, journal=chain)
        self.audit = AuditTrail(self.ledger, chain)
        self.audit.adopt_legacy(settings.audit_path)
        self.pm: pluggy.PluginManager = new_plugin_manager()
        self.hooks = HookFacade(
            self.pm,
            on_observer_error=lambda plugin, hook, exc: record_observer_failure(
                self.audit, plugin, hook, exc
            ),
        )
        self.engine = IssuanceEngine(
            settings, self.ledger, self.hooks, clock=clock,
            on_set_aside=lambda issuance_id, reason: record_set_aside(
                self.audit, issuance_id, reason
            ),
        )
        self._psc = PSCTokenPlugin(settings.psc, settings.eligibility.allowed_professions)
        self._issuer = ProStopCovidPlugin()
        self._codewatch = CodeWatchPlugin(SeenCodes(settings.data_dir), settings.eligibility,
                                          clock)
        self.worker = RuntimeWorker(
            self.engine, threads=worker_threads, resume_every=resume_every
        )
        try:
            # built-ins first: pluggy calls the last registered first, and the fallbacks are
            # marked trylast, so hosts and adapters always get the first word
            for name, builtin in self.builtin_plugins():
                self.pm.register(builtin, name=name)
            register_plugins(self.pm, plugins)
            load_module_plugins(self.pm, settings.plugins)
            load_entry_point_plugins(self.pm, settings.adapters)
            check_hookimpls(self.pm)
            self.hooks.configure(settings)  # an adapter's bad settings fail here
        except BaseException:
            self.close()  # a runtime that failed to start holds no file open
            raise
        self.worker.start()

    def builtin_plugins(self) -> list[tuple[str, object]]:
        """The plugins every runtime has, in registration order (pytest's default_plugins)."""
        builtins: list[tuple[str, object]] = [
            ("prostop.issuance", IssuancePlugin(self.engine)),
            ("prostop.issuer.prostopcovid", self._issuer),
            ("prostop.psc", self._psc),
            ("prostop.codewatch", self._codewatch),  # codes to map: prostop codes unknown
            ("prostop.metrics", MetricsObserver()),
        ]
        if self.settings.write_back.folder is not None:
            builtins.append(("prostop.outbox", FolderWriteBack(self.settings.write_back.folder)))
        return builtins

    @classmethod
    def open(
        cls, settings: Settings, *, plugins: Sequence[object] = (),
        clock: Callable[[], datetime] = utcnow, worker_threads: int = DEFAULT_THREADS,
        resume_every: float | None = None,
    ) -> Prostop:
        """Open the runtime (see the class for the parameters); creates ``data_dir`` 0700."""
        return cls(settings, plugins=plugins, clock=clock, worker_threads=worker_threads,
                   resume_every=resume_every)

    # -- the host API: calls that return at once (see prostop_plugin.host_api) ------------------

    def record(self, event: DiagnosisEvent) -> Recorded:
        """Store ``event`` durably and evaluate it; return the record and, when it waits for a
        physician, the confirmation request to show. Never calls the dialog hooks nor PSC or
        the code service on this thread: the rest runs on the runtime's worker.

        :raises InputError: the event cannot be used (nothing was stored).
        """
        return record_event(self.engine, self.worker, event)

    def decide_later(
        self, issuance_id: str, decision: ConfirmationDecision
    ) -> IssuanceRecord:
        """Commit the physician's decision and return (the record, ``approved`` or
        ``declined``); an approval goes on to the code on the runtime's worker, in this
        thread's context (its ``HostTokenStore.session``). Progress reaches the host through
        ``prostop_issuance_changed``.

        :raises ConfirmationRefused: the decision cannot be accepted (``.fr``/``.en`` to show).
        :raises InvalidTransition: the issuance is not awaiting a decision (decided already).
        :raises IssuanceNotFound: no such issuance.
        """
        return decide_later(self.engine, self.worker, issuance_id, decision)

    async def arecord(self, event: DiagnosisEvent) -> Recorded:
        """:meth:`record` for asyncio hosts: the ledger write runs in a thread."""
        return await asyncio.to_thread(self.record, event)

    async def adecide_later(
        self, issuance_id: str, decision: ConfirmationDecision
    ) -> IssuanceRecord:
        """:meth:`decide_later` for asyncio hosts (the context, hence the session, is kept)."""
        return await asyncio.to_thread(self.decide_later, issuance_id, decision)

    def close(self) -> None:
        self.worker.close()
        self.engine.close()
        self._psc.close()
        self._issuer.close()
        self.ledger.close()

    def __enter__(self) -> Prostop:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
