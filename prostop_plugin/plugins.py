"""The plugin manager: built-ins, allow-listed entry points, and the typed facade the core uses.

Discovery follows llm/datasette: installed distributions declare an entry point in the group
``prostop``; only names listed in the configuration (``adapters = [...]``) are loaded, so
installing a package never changes behaviour by itself. ``PROSTOP_DISABLE_PLUGIN_AUTOLOAD``
turns entry-point loading off entirely (tests). Modules named in ``plugins = [...]`` are
imported and registered as they are (a vendor's in-house integration, a test plugin).
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable, Iterable
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, cast

import pluggy

from prostop_plugin import hooks
from prostop_plugin.config import Settings
from prostop_plugin.errors import ConfigError, ProstopError
from prostop_plugin.hooks import BackgroundService
from prostop_plugin.issuers import CodeIssuer
from prostop_plugin.models import (
    AccessToken,
    AdapterInfo,
    ConfirmationDecision,
    ConfirmationRequest,
    DiagnosisEvent,
    IssuanceRecord,
    IssuanceState,
    Practitioner,
    ResultCorrection,
    WriteBackReceipt,
)

if TYPE_CHECKING:
    from prostop_plugin.app import Prostop

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "prostop"
DISABLE_AUTOLOAD_ENV = "PROSTOP_DISABLE_PLUGIN_AUTOLOAD"

#: called with (plugin name, hook name, exception) when an observer fails
ObserverErrorHandler = Callable[[str, str, BaseException], None]


def new_plugin_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(hooks.PROJECT_NAME)
    pm.add_hookspecs(hooks)
    return pm


def already_registered(pm: pluggy.PluginManager, plugin: object) -> str | None:
    """The name ``plugin`` is registered under already, or ``None``.

    The same object, or — for a plugin that is an instance — another instance of its class:
    an adapter given both in ``Prostop.open(plugins=[...])`` and by its entry point is one
    adapter, whose hooks must answer once.
    """
    for name, other in pm.list_name_plugin():
        if other is plugin:
            return name
        if (other is not None and not isinstance(plugin, ModuleType)
                and type(other) is type(plugin)):
            return name
    return None


def register_plugins(pm: pluggy.PluginManager, plugins: Iterable[object]) -> list[str]:
    """Register a host's own plugin objects (``Prostop.open(plugins=[...])``); the same object
    given twice is registered once. Returns the names pluggy gave them."""
    names: list[str] = []
    for plugin in plugins:
        if pm.is_registered(plugin):
            continue
        name = pm.register(plugin)
        if name is not None:
            names.append(name)
    return names


def load_entry_point_plugins(pm: pluggy.PluginManager, allowed: Iterable[str]) -> list[str]:
    """Register the ``prostop`` entry points whose names are allowed; return their names.

    An entry point whose plugin is already registered (the host gave the same plugin in
    ``plugins=[...]``) is skipped, so its hooks are not called twice.

    :raises ConfigError: when an allowed name is not installed or fails to import.
    """
    wanted = list(dict.fromkeys(allowed))
    if os.environ.get(DISABLE_AUTOLOAD_ENV) or not wanted:
        return []
    available = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
    loaded: list[str] = []
    for name in wanted:
        ep = available.get(name)
        if ep is None:
            known = ", ".join(sorted(available)) or "none"
            raise ConfigError(
                f"adapter '{name}' is allowed but not installed (installed: {known})",
                where="setting 'adapters'",
                fix=f"install the adapter's distribution, or remove '{name}' from 'adapters'",
            )
        if pm.has_plugin(name):
            continue
        try:
            plugin = ep.load()
        except Exception as exc:  # an adapter's import error must not be a traceback
            raise ConfigError(
                f"adapter '{name}' failed to load: {type(exc).__name__}: {exc}",
                where=f"entry point {ep.value}",
                fix="reinstall the adapter, or check its own dependencies",
            ) from exc
        twin = already_registered(pm, plugin)
        if twin is not None:
            log.info("adapter '%s' is registered already (as %s, given in plugins=[...]): "
                     "its entry point is not registered a second time", name, twin)
            continue
        pm.register(plugin, name=name)
        loaded.append(name)
    return loaded


def load_module_plugins(pm: pluggy.PluginManager, names: Iterable[str]) -> list[str]:
    loaded: list[str] = []
    for name in names:
        if pm.has_plugin(name):
            continue
        try:
            module: ModuleType = importlib.import_module(name)
        except Exception as exc:
            raise ConfigError(
                f"plugin module '{name}' cannot be imported: {type(exc).__name__}: {exc}",
                where="setting 'plugins'",
                fix="check the module name and that it is installed in this environment",
            ) from exc
        if already_registered(pm, module) is not None:
            log.info("plugin module '%s' is registered already: not a second time", name)
            continue
        pm.register(module, name=name)
        loaded.append(name)
    return loaded


def check_hookimpls(pm: pluggy.PluginManager) -> None:
    """Fail when a plugin implements a hook that has no specification (a typo, a stale name)."""
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise ConfigError(
            str(exc), where="plugin hook implementations",
            fix="every hook implementation must match a prostop_* specification in hooks.py",
        ) from exc


class HookFacade:
    """The only way the core calls hooks: typed results, isolated observers."""

    def __init__(
        self, pm: pluggy.PluginManager, on_observer_error: ObserverErrorHandler | None = None
    ) -> None:
        self.pm = pm
        self.on_observer_error = on_observer_error

    @property
    def _hook(self) -> Any:
        return self.pm.hook

    def configure(self, settings: Settings) -> None:
        self._hook.prostop_configure(settings=settings)

    def adapters(self) -> list[AdapterInfo]:
        found: list[AdapterInfo] = []
        self._hook.prostop_register_adapters(register=found.append)
        return found

    def background_services(self, runtime: Prostop) -> list[BackgroundService]:
        found: list[BackgroundService] = []
        for services in self._hook.prostop_background_services(runtime=runtime):
            found.extend(services or [])
        return found

    def writable_paths(self, settings: Settings) -> list[Path]:
        found: list[Path] = []
        for paths in self._hook.prostop_writable_paths(settings=settings):
            found.extend(paths or [])
        return found

    def diagnosis_recorded(self, event: DiagnosisEvent) -> IssuanceRecord | None:
        return cast("IssuanceRecord | None", self._hook.prostop_diagnosis_recorded(event=event))

    def result_corrected(self, correction: ResultCorrection) -> None:
        self._hook.prostop_result_corrected(correction=correction)

    def can_confirm(self) -> bool:
        """Whether any plugin answers ``prostop_confirm_issuance`` (a host with a dialog)."""
        return bool(self._hook.prostop_confirm_issuance.get_hookimpls())

    def confirm_issuance(self, request: ConfirmationRequest) -> ConfirmationDecision | None:
        """The first decision a dialog hook returns, in pluggy's order; ``None`` when none.

        A dialog hook that raises is logged and the next one asked: a broken host never
        leaves the request stuck nor its exception with the adapter that recorded the event
        (without an answer, the request waits in the pending queue).
        """
        caller = self._hook.prostop_confirm_issuance
        for impl in reversed(caller.get_hookimpls()):  # pluggy's own order: LIFO
            if impl.hookwrapper or getattr(impl, "wrapper", False):
                continue
            try:
                answer = impl.function(**{name: request for name in impl.argnames})
            except Exception as exc:
                # unnamed plugins are named by id(): the class (or module) says more
                name = impl.plugin_name
                source = type(impl.plugin).__name__ if name.isdigit() else name
                log.error(
                    "the confirmation hook of %s failed on issuance %s: %s: %s; the request "
                    "waits in the pending queue", source, request.issuance_id,
                    type(exc).__name__, exc,
                )
                continue
            if answer is not None:
                return cast(ConfirmationDecision, answer)
        return None

    def practitioner_token(
        self, practitioner: Practitioner, binding_message: str
    ) -> AccessToken | None:
        return cast(
            "AccessToken | None",
            self._hook.prostop_practitioner_token(
                practitioner=practitioner, binding_message=binding_message
            ),
        )

    def write_back(self, record: IssuanceRecord) -> WriteBackReceipt | None:
        return cast("WriteBackReceipt | None", self._hook.prostop_write_back(record=record))

    def code_issuer(self, settings: Settings) -> CodeIssuer:
        issuer = self._hook.prostop_code_issuer(settings=settings)
        if issuer is None:
            raise ConfigError(
                "no code issuer is registered",
                fix="keep the built-in ProStopCovid issuer, or install a plugin providing one",
            )
        return cast(CodeIssuer, issuer)

    def notify_pending(
        self, request: ConfirmationRequest, record: IssuanceRecord, link: str
    ) -> None:
        """Ask the adapters to write the "confirmation en attente" notice into the record;
        one failing never stops the others nor the flow (a notice is a courtesy)."""
        self._each("prostop_notify_pending",
                   {"request": request, "record": record, "link": link})

    def issuance_changed(self, record: IssuanceRecord, previous: IssuanceState | None) -> None:
        """Call every observer; one failing never stops the others nor the flow."""
        # Each observer is called on its own so that its failure is its own. pluggy has no
        # public way to call one implementation through the hook (subset_hook_caller needs
        # hashable plugins, which dataclass plugins are not): wrappers and hook monitoring are
        # not applied to this hook, as documented in hooks.py.
        self._each("prostop_issuance_changed", {"record": record, "previous": previous})

    def _each(self, hook: str, offered: dict[str, object]) -> None:
        """Call every implementation of ``hook`` on its own; a failure is logged, reported
        to ``on_observer_error`` and never reaches the caller or the other implementations."""
        caller = getattr(self._hook, hook)
        for impl in reversed(caller.get_hookimpls()):  # pluggy's own order: LIFO
            try:
                impl.function(**{name: offered[name] for name in impl.argnames})
            except Exception as exc:
                log.error(
                    "observer %s failed on %s: %s: %s",
                    impl.plugin_name, hook, type(exc).__name__, exc,
                )
                if self.on_observer_error is not None:
                    try:
                        self.on_observer_error(impl.plugin_name, hook, exc)
                    except ProstopError:
                        log.exception("could not record the failure")
