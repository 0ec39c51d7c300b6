"""A plugin for the file-drop crash tests: SIGKILLs its own process at a chosen point.

Loaded by name (``plugins = ["tests.adapters.filedrop.crash_plugin"]``) in a real ``prostop``
process; ``PROSTOP_TEST_FILEDROP_KILL_AT`` names the point:

* ``before_record`` — the file is claimed (in processing/), the core has not stored it;
* ``after_record`` — the core stored the event, the file is not yet in done/;
* ``after_write_back`` — the import files are in the outbox, the core has not recorded it.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Generator

from prostop_plugin import hookimpl
from prostop_plugin.models import DiagnosisEvent, IssuanceRecord, WriteBackReceipt

KILL_AT_ENV = "PROSTOP_TEST_FILEDROP_KILL_AT"


def _die_at(point: str) -> None:
    if os.environ.get(KILL_AT_ENV) == point:
        os.kill(os.getpid(), signal.SIGKILL)


@hookimpl(wrapper=True)
def prostop_diagnosis_recorded(
    event: DiagnosisEvent,
) -> Generator[None, IssuanceRecord | None, IssuanceRecord | None]:
    if event.source.adapter == "filedrop":
        _die_at("before_record")
    record = yield
    if event.source.adapter == "filedrop":
        _die_at("after_record")
    return record


@hookimpl(wrapper=True)
def prostop_write_back(
    record: IssuanceRecord,
) -> Generator[None, WriteBackReceipt | None, WriteBackReceipt | None]:
    receipt = yield
    if receipt is not None and receipt.adapter == "filedrop":
        _die_at("after_write_back")
    return receipt
