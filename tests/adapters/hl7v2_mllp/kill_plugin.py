"""A plugin for the kill test, loaded by a real ``prostop serve`` (``PROSTOP_PLUGINS``).

It SIGKILLs its own process right after the first event is committed (state ``received``):
between receiving a message and acknowledging it. ``PROSTOP_TEST_KILL_MARKER`` names a file
written just before, so that the restarted process is left alone.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

from prostop_plugin import hookimpl
from prostop_plugin.models import IssuanceRecord, IssuanceState


@hookimpl
def prostop_issuance_changed(record: IssuanceRecord, previous: IssuanceState | None) -> None:
    marker = os.environ.get("PROSTOP_TEST_KILL_MARKER")
    if not marker or record.state != IssuanceState.RECEIVED or Path(marker).exists():
        return
    Path(marker).write_text(record.id)
    os.kill(os.getpid(), signal.SIGKILL)
