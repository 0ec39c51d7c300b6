"""What an adapter's plugin object does like every other: it holds its validated
``[adapter.<name>]`` section between hook calls, describes itself, starts its background
service, and writes back (and tells of waiting requests) the records whose event came
through it only.

An adapter gives its own parts, each called with its checked settings::

    class MyPlugin(AdapterPlugin[MySettings]):
        def __init__(self) -> None:
            super().__init__(INFO, load_my_settings, label="my EHR", service=MyInbox,
                             write_back=write_note, notice=write_notice)

The hooks live here (``prostop_configure``, ``prostop_register_adapters``,
``prostop_background_services``, ``prostop_write_back``, ``prostop_notify_pending``); a
subclass adds the adapter's other hooks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Generic, TypeVar

from prostop_plugin.errors import ConfigError
from prostop_plugin.hooks import hookimpl

if TYPE_CHECKING:
    from prostop_plugin.app import Prostop
    from prostop_plugin.config import Settings
    from prostop_plugin.hooks import BackgroundService
    from prostop_plugin.models import (
        AdapterInfo,
        ConfirmationRequest,
        IssuanceRecord,
        WriteBackReceipt,
    )

__all__ = ["AdapterPlugin"]

SectionT = TypeVar("SectionT")


class AdapterPlugin(Generic[SectionT]):
    """An adapter's plugin.

    :param info: what the adapter is; its ``name`` is its records' ``source.adapter`` and
        its settings section ``[adapter.<name>]``.
    :param load: validates that section (a bad one stops the runtime at start).
    :param label: names the adapter in the error of a hook called before the runtime
        configured it.
    :param service: the background service ``prostop serve`` runs, on the section read again
        from the runtime's settings.
    :param write_back: writes one of the adapter's own records that holds a code back.
    :param notice: tells the host that one of the adapter's own requests waits for a
        confirmation (with the console's link to it; what it returns is not used); none: the
        request just waits.
    """

    def __init__(
        self, info: AdapterInfo, load: Callable[[Settings], SectionT], *, label: str,
        service: Callable[[Prostop, SectionT], BackgroundService],
        write_back: Callable[[IssuanceRecord, SectionT], WriteBackReceipt],
        notice: Callable[[ConfirmationRequest, IssuanceRecord, str, SectionT], object]
        | None = None,
    ) -> None:
        self.info = info
        self.load = load
        self.label = label
        self.service = service
        self.write_back = write_back
        self.notice = notice
        self.config: SectionT | None = None

    def configured(self) -> SectionT:
        """The section ``prostop_configure`` validated.

        :raises ConfigError: the runtime has not configured the plugin yet.
        """
        if self.config is None:
            raise ConfigError(f"the {self.label} adapter was not configured",
                              fix=f"it is configured at start-up from [adapter.{self.info.name}]")
        return self.config

    def owns(self, record: IssuanceRecord) -> bool:
        """Whether the record's event came through this adapter."""
        return record.event.source.adapter == self.info.name

    @hookimpl
    def prostop_configure(self, settings: Settings) -> None:
        self.config = self.load(settings)

    @hookimpl
    def prostop_register_adapters(self, register: Callable[[AdapterInfo], None]) -> None:
        register(self.info)

    @hookimpl
    def prostop_background_services(self, runtime: Prostop) -> list[BackgroundService]:
        return [self.service(runtime, self.load(runtime.settings))]

    @hookimpl
    def prostop_write_back(self, record: IssuanceRecord) -> WriteBackReceipt | None:
        if not self.owns(record) or record.code is None:
            return None
        return self.write_back(record, self.configured())

    @hookimpl
    def prostop_notify_pending(
        self, request: ConfirmationRequest, record: IssuanceRecord, link: str
    ) -> None:
        if self.notice is not None and self.owns(record):
            self.notice(request, record, link, self.configured())
