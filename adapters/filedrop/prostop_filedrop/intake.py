"""Read one claimed file and hand its COVID-relevant events to the core.

This module moves no file: it says what became of the file
(:class:`prostop_plugin.IntakeResult`) and the service moves it accordingly. Logs name files
and counts, never what the files say.
"""

from __future__ import annotations

from pathlib import Path

from prostop_filedrop.folders import ClaimedFile
from prostop_filedrop.settings import ADAPTER_NAME, FiledropSettings
from prostop_plugin import (
    DiagnosisEvent,
    IncompleteInputError,
    InputError,
    IntakeOutcome,
    IntakeResult,
    Prostop,
    read_bytes,
    reader_failure,
    record_received,
)


def read_events(claimed: ClaimedFile, max_bytes: int) -> list[DiagnosisEvent]:
    """The file's events. :class:`InputError` (what, where, fix) when it cannot be used."""
    name = claimed.original_name
    try:
        with claimed.path.open("rb") as handle:
            data = handle.read(max_bytes + 1)  # bounded even if the file is still growing
    except OSError as exc:
        raise InputError(f"the file cannot be read: {exc.strerror}", where=name,
                         fix="check the file's permissions for the service account") from None
    if len(data) > max_bytes:
        raise InputError(
            f"the file is larger than {max_bytes} bytes (setting adapter.filedrop."
            "max_file_bytes)", where=name,
            fix="check that it is really a lab report; split a batch into smaller files",
        )
    return read_bytes(data, name, adapter=ADAPTER_NAME)


def incomplete(path: Path, name: str, max_bytes: int) -> IncompleteInputError | None:
    """Why the file at ``path`` looks cut short (a writer that paused longer than the settle
    time: an HL7 segment without its terminator, a batch without its trailer, an HPRIM block
    never closed), or ``None`` when it looks whole or is unusable for another reason (the read
    after the claim says why)."""
    try:
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
        if len(data) <= max_bytes:
            read_bytes(data, name, adapter=ADAPTER_NAME)
    except IncompleteInputError as exc:
        return exc
    except Exception:  # any other problem is for take_in to report
        return None
    return None


def take_in(claimed: ClaimedFile, runtime: Prostop, config: FiledropSettings) -> IntakeResult:
    """Read the file and record its COVID-relevant events durably (deduplicated)."""
    name = claimed.original_name
    try:
        events = read_events(claimed, config.max_file_bytes)
    except IncompleteInputError as exc:  # waited for the rest in the inbox (service): no more
        return IntakeResult(IntakeOutcome.UNUSABLE, problem=InputError(
            f"{exc.what} (it did not change for {config.incomplete_timeout:g} s)",
            where=exc.where, fix=f"{exc.fix}; if the sender pauses longer while writing, raise "
            "adapter.filedrop.incomplete_timeout",
        ))
    except InputError as exc:
        return IntakeResult(IntakeOutcome.UNUSABLE, problem=exc)
    except Exception as exc:  # a reader bug: keep the file aside, the traceback in the log only
        return reader_failure(exc, name, "file")
    return record_received(runtime, events, name, adapter=ADAPTER_NAME,
                           host=config.host or runtime.settings.host_name)
