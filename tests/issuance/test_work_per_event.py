"""What storing one event costs, counted (never timed): no work whose result nobody uses.

Each count is deterministic; together they keep the per-message work of the MLLP benchmark
(``python -m bench mllp``) from creeping back.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from prostop_plugin.app import Prostop
from prostop_plugin.ledger import Ledger
from prostop_plugin.models import IssuanceState
from tests.fixtures.builders import rtpcr_event, settings_for

WHEN = datetime.now(UTC) - timedelta(hours=2)


@pytest.fixture
def prostop(tmp_path: Path) -> Iterator[Prostop]:
    with Prostop.open(settings_for(tmp_path)) as app:
        app.record(rtpcr_event(n=90, when=WHEN, message_id="WARM"))  # the writer is running
        yield app


def calls_of(monkeypatch: pytest.MonkeyPatch, target: object, name: str) -> list[Any]:
    """Record the calls of ``target.name`` (it still runs)."""
    calls: list[Any] = []
    original = getattr(target, name)

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(target, name, counting)
    return calls


def test_without_a_console_no_request_is_built_for_a_notice(
    prostop: Prostop, monkeypatch: pytest.MonkeyPatch
) -> None:
    # no console: no notice is written, so the request it would carry is not built
    assert prostop.settings.console.request_link("x") is None
    histories = calls_of(monkeypatch, Ledger, "patient_history")
    record = prostop.engine.record_event(rtpcr_event(n=1, when=WHEN, message_id="M1"))
    assert record.state == IssuanceState.AWAITING_CONFIRMATION
    assert histories == []
