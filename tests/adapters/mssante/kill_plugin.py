"""A plugin for the MSSanté crash test: SIGKILLs its own process right after the core stored an
event that came by MSSanté, i.e. between fetching the message and marking it handled.

Loaded by name (``plugins = ["tests.adapters.mssante.kill_plugin"]``) in a real ``prostop
serve`` process, armed by ``PROSTOP_TEST_MSSANTE_KILL=after_record``.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Generator

from prostop_plugin import hookimpl
from prostop_plugin.models import DiagnosisEvent, IssuanceRecord

KILL_ENV = "PROSTOP_TEST_MSSANTE_KILL"


@hookimpl(wrapper=True)
def prostop_diagnosis_recorded(
    event: DiagnosisEvent,
) -> Generator[None, IssuanceRecord | None, IssuanceRecord | None]:
    record = yield
    if event.source.adapter == "mssante" and os.environ.get(KILL_ENV) == "after_record":
        os.kill(os.getpid(), signal.SIGKILL)
    return record
