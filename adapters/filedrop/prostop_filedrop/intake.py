"""Read one claimed file and hand its COVID-relevant events to the core.

This module moves no file: it says what became of the file (:class:`Outcome`) and the service
moves it accordingly. Logs name files and counts, never what the files say.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from pathlib import Path

from prostop_filedrop.folders import ClaimedFile
from prostop_filedrop.settings import ADAPTER_NAME, FiledropSettings
from prostop_plugin import (
    DiagnosisEvent,
    IncompleteInputError,
    InputError,
    LabResult,
    Prostop,
    ProstopError,
    ResultCorrection,
    is_covid_relevant,
    read_bytes,
)

log = logging.getLogger(__name__)

#: what the readers put in ``source.host`` when a file names no sender
PLACEHOLDER_HOSTS = frozenset({"unknown", "unknown lab"})


class Outcome(enum.Enum):
    RECORDED = "recorded"  # events durable in the ledger → done/
    IRRELEVANT = "irrelevant"  # readable, no COVID evidence, nothing stored → done/
    UNUSABLE = "unusable"  # cannot be read → quarantine/ with the problem
    RETRY = "retry"  # the core failed before storing: stays in processing/, tried again


@dataclass(frozen=True)
class IntakeResult:
    outcome: Outcome
    recorded: int = 0
    problem: ProstopError | None = None  # UNUSABLE: for the .error.txt
    failure: str | None = None  # RETRY: for the log


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


def as_received(event: DiagnosisEvent, host: str) -> DiagnosisEvent:
    """The event as this adapter received it: ``source.adapter`` is ``filedrop`` (a JSON event
    file names its own, and the write-back must come back here), and the sender is named when
    the file did not name one. Both are part of the deduplication key, so they never vary."""
    update: dict[str, str] = {}
    if event.source.adapter != ADAPTER_NAME:
        update["adapter"] = ADAPTER_NAME
    if event.source.host in PLACEHOLDER_HOSTS:
        update["host"] = host
    if not update:
        return event
    return event.model_copy(update={"source": event.source.model_copy(update=update)})


def corrections(event: DiagnosisEvent) -> list[ResultCorrection]:
    """Results the file marks corrected (C) or deleted (D), as the HL7 listener reports them."""
    return [
        ResultCorrection(source=event.source, patient=event.patient, result=item)
        for item in event.evidence
        if isinstance(item, LabResult) and item.status in ("C", "D")
    ]


def is_stored(runtime: Prostop, event: DiagnosisEvent) -> bool:
    """Whether the ledger holds the event (after the core raised, durability is unknown)."""
    try:
        return runtime.ledger.has_event(event)
    except Exception:
        log.exception("cannot check the ledger for an event")
        return False


def take_in(claimed: ClaimedFile, runtime: Prostop, config: FiledropSettings) -> IntakeResult:
    """Read the file and record its COVID-relevant events durably (deduplicated)."""
    name = claimed.original_name
    try:
        events = read_events(claimed, config.max_file_bytes)
    except IncompleteInputError as exc:  # waited for the rest in the inbox (service): no more
        return IntakeResult(Outcome.UNUSABLE, problem=InputError(
            f"{exc.what} (it did not change for {config.incomplete_timeout:g} s)",
            where=exc.where, fix=f"{exc.fix}; if the sender pauses longer while writing, raise "
            "adapter.filedrop.incomplete_timeout",
        ))
    except InputError as exc:
        return IntakeResult(Outcome.UNUSABLE, problem=exc)
    except Exception as exc:  # a reader bug: keep the file aside, the traceback in the log only
        log.exception("%s: unexpected error while reading", name)
        return IntakeResult(Outcome.UNUSABLE, problem=InputError(
            f"the file could not be read because of an internal error ({type(exc).__name__})",
            where=name,
            fix="report it to the plugin's maintainers with the service log; the file is kept",
        ))
    policy = runtime.settings.eligibility
    relevant = [e for e in events if is_covid_relevant(e.evidence, policy)]
    if not relevant:
        return IntakeResult(Outcome.IRRELEVANT)
    host = config.host or runtime.settings.host_name
    recorded = [as_received(event, host) for event in relevant]
    for event in recorded:
        try:
            runtime.hooks.diagnosis_recorded(event)
        except Exception as exc:
            failure = f"{type(exc).__name__}: {exc}"
            if not is_stored(runtime, event):
                return IntakeResult(Outcome.RETRY, failure=failure)
            # stored, then the flow failed further on: the record shows it, the file is done
            log.error("%s: event stored, but the flow stopped after it: %s", name, failure)
    for event in recorded:
        for correction in corrections(event):
            try:
                runtime.hooks.result_corrected(correction)
            except Exception:
                log.exception("%s: flagging a corrected result failed", name)
    return IntakeResult(Outcome.RECORDED, recorded=len(recorded))
