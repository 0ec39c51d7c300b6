"""A plugin for the shutdown test, loaded by a real ``prostop serve`` (``PROSTOP_PLUGINS``).

It makes the message with MSH-10 ``SLOW-1`` take long to hand over, as a very large report's
evaluation does: once the core has recorded its event it writes the file named by
``PROSTOP_TEST_SLOW_MARKER``, then holds the worker (up to 120 s) before the ACK may go.
"""

from __future__ import annotations

import os
import time
from collections.abc import Generator
from pathlib import Path

from prostop_plugin import hookimpl
from prostop_plugin.models import DiagnosisEvent, IssuanceRecord

SLOW_CONTROL_ID = "SLOW-1"


@hookimpl(wrapper=True)
def prostop_diagnosis_recorded(
    event: DiagnosisEvent,
) -> Generator[None, IssuanceRecord | None, IssuanceRecord | None]:
    result = yield
    marker = os.environ.get("PROSTOP_TEST_SLOW_MARKER")
    if marker and event.source.message_id == SLOW_CONTROL_ID:
        Path(marker).write_text("evaluating")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            time.sleep(0.1)
    return result
