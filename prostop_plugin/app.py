"""The runtime: configuration, keys, ledger (with its audit chain), plugins and the engine.

A host integrating in-process (the reference EHR, a vendor's own code) does::

    with Prostop.open(load_settings(), plugins=[MyHostPlugin()]) as prostop:
        prostop.hooks.diagnosis_recorded(event)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from types import TracebackType

import pluggy

from prostop_plugin.audit.plugin import record_observer_failure, record_set_aside
from prostop_plugin.audit.table import AuditTable
from prostop_plugin.config import Settings
from prostop_plugin.issuance import IssuanceEngine, IssuancePlugin
from prostop_plugin.issuance.folder_writeback import FolderWriteBack
from prostop_plugin.issuance.trail import AuditTrail
from prostop_plugin.issuers.prostopcovid import ProStopCovidPlugin
from prostop_plugin.keys import KeyRing
from prostop_plugin.ledger import Ledger
from prostop_plugin.models import utcnow
from prostop_plugin.plugins import (
    HookFacade,
    check_hookimpls,
    load_entry_point_plugins,
    load_module_plugins,
    new_plugin_manager,
)
from prostop_plugin.psc import PSCTokenPlugin

log = logging.getLogger(__name__)


class Prostop:
    """Everything a process needs to run the flow. Close it (or use ``with``) when done."""

    def __init__(
        self,
        settings: Settings,
        *,
        plugins: Sequence[object] = (),
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.settings = settings
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
        # built-ins first: pluggy calls the last registered first, and the fallbacks are
        # marked trylast, so hosts and adapters always get the first word
        for name, builtin in self.builtin_plugins():
            self.pm.register(builtin, name=name)
        for plugin in plugins:
            self.pm.register(plugin)
        load_module_plugins(self.pm, settings.plugins)
        load_entry_point_plugins(self.pm, settings.adapters)
        check_hookimpls(self.pm)
        self.hooks.configure(settings)

    def builtin_plugins(self) -> list[tuple[str, object]]:
        """The plugins every runtime has, in registration order (pytest's default_plugins)."""
        builtins: list[tuple[str, object]] = [
            ("prostop.issuance", IssuancePlugin(self.engine)),
            ("prostop.issuer.prostopcovid", self._issuer),
            ("prostop.psc", self._psc),
        ]
        if self.settings.write_back.folder is not None:
            builtins.append(("prostop.outbox", FolderWriteBack(self.settings.write_back.folder)))
        return builtins

    @classmethod
    def open(
        cls, settings: Settings, *, plugins: Sequence[object] = (),
        clock: Callable[[], datetime] = utcnow,
    ) -> Prostop:
        return cls(settings, plugins=plugins, clock=clock)

    def close(self) -> None:
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
