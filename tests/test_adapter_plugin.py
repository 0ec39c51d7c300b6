"""``AdapterPlugin``: the hooks every adapter's plugin shares answer for its own records only,
with the section it validated at start."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from prostop_plugin import (
    AdapterInfo,
    AdapterPlugin,
    ConfigError,
    ConfirmationRequest,
    IssuanceRecord,
    IssuanceState,
    Settings,
    WriteBackReceipt,
)
from tests.fixtures.builders import rtpcr_event

INFO = AdapterInfo(name="shared", title="Shared", description="", has_confirmation_ui=False)


class Host:
    """What the adapter's parts were called with."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def load(self, settings: Settings) -> str:
        return f"section of {settings.host_name}"

    def service(self, runtime: Any, config: str) -> Any:
        self.calls.append(("service", config))
        return "service"

    def write_back(self, record: IssuanceRecord, config: str) -> WriteBackReceipt:
        self.calls.append(("write_back", config))
        return WriteBackReceipt(adapter="shared", target=record.id)

    def notice(self, request: ConfirmationRequest, record: IssuanceRecord, link: str,
               config: str) -> None:
        self.calls.append(("notice", (link, config)))


def record(adapter: str, *, code: str | None = "ABC123") -> IssuanceRecord:
    event = rtpcr_event(when=datetime(2020, 11, 19, tzinfo=UTC), adapter=adapter)
    return IssuanceRecord(id=f"{adapter}-1", episode="e", state=IssuanceState.ISSUED,
                          event=event, code=SecretStr(code) if code else None)


def plugin(host: Host, **parts: Any) -> AdapterPlugin[str]:
    return AdapterPlugin(INFO, host.load, label="shared test", service=host.service,
                         write_back=host.write_back, **parts)


def test_before_the_runtime_configured_it_the_write_back_says_which_section() -> None:
    with pytest.raises(ConfigError) as raised:
        plugin(Host()).prostop_write_back(record("shared"))
    assert raised.value.what == "the shared test adapter was not configured"
    assert "[adapter.shared]" in (raised.value.fix or "")


def test_it_answers_for_its_own_records_with_the_section_it_validated(tmp_path: Path) -> None:
    host = Host()
    shared = plugin(host, notice=host.notice)
    shared.prostop_configure(Settings(data_dir=tmp_path, host_name="cabinet"))
    found: list[AdapterInfo] = []
    shared.prostop_register_adapters(found.append)
    assert found == [INFO]

    assert shared.prostop_write_back(record("other")) is None
    assert shared.prostop_write_back(record("shared", code=None)) is None
    receipt = shared.prostop_write_back(record("shared"))
    assert receipt is not None and receipt.target == "shared-1"
    request = ConfirmationRequest.model_construct()
    shared.prostop_notify_pending(request, record("other"), "https://console/x")
    shared.prostop_notify_pending(request, record("shared"), "https://console/1")
    assert host.calls == [("write_back", "section of cabinet"),
                          ("notice", ("https://console/1", "section of cabinet"))]


def test_without_a_notice_a_waiting_request_just_waits(tmp_path: Path) -> None:
    host = Host()
    shared = plugin(host)
    shared.prostop_configure(Settings(data_dir=tmp_path, host_name="cabinet"))
    shared.prostop_notify_pending(ConfirmationRequest.model_construct(), record("shared"), "l")
    assert host.calls == []
