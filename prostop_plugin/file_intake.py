"""Taking the events read from one file or message into the runtime, as the adapters that
receive whole documents do (the file drop, MSSanté): what is not about COVID-19 is left
out, the rest is recorded durably (the ledger deduplicates it) under the adapter's name, and
the results the document marks corrected or deleted are reported.

Nothing here reads, moves or answers: :class:`IntakeResult` says what became of the
document, and the adapter files it accordingly (done, quarantined, tried again). Logs name
the document's label and counts, never what it says.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prostop_plugin.eligibility import is_covid_relevant
from prostop_plugin.errors import InputError, ProstopError
from prostop_plugin.models import DiagnosisEvent, LabResult, ResultCorrection

if TYPE_CHECKING:
    from prostop_plugin.app import Prostop

__all__ = [
    "PLACEHOLDER_HOSTS",
    "IntakeOutcome",
    "IntakeResult",
    "as_received",
    "corrected_results",
    "is_stored",
    "reader_failure",
    "record_received",
]

log = logging.getLogger(__name__)

#: what the readers put in ``source.host`` when a document names no sender
PLACEHOLDER_HOSTS = frozenset({"unknown", "unknown lab"})


class IntakeOutcome(enum.Enum):
    RECORDED = "recorded"  # events durable in the ledger: the document is done
    IRRELEVANT = "irrelevant"  # readable, no COVID evidence, nothing stored: done too
    UNUSABLE = "unusable"  # cannot be used: kept aside, with the problem
    RETRY = "retry"  # the core failed before storing: kept as it is, tried again


@dataclass(frozen=True)
class IntakeResult:
    outcome: IntakeOutcome
    recorded: int = 0
    problem: ProstopError | None = None  # UNUSABLE: for the note beside the document
    failure: str | None = None  # RETRY: for the log


def as_received(event: DiagnosisEvent, host: str, *, adapter: str) -> DiagnosisEvent:
    """The event as ``adapter`` received it: ``source.adapter`` is the adapter (a JSON event
    file names its own, and the write-back must come back here), and the sender is ``host``
    when the document did not name one. Both are part of the deduplication key, so they never
    vary."""
    update: dict[str, str] = {}
    if event.source.adapter != adapter:
        update["adapter"] = adapter
    if event.source.host in PLACEHOLDER_HOSTS:
        update["host"] = host
    if not update:
        return event
    return event.model_copy(update={"source": event.source.model_copy(update=update)})


def corrected_results(event: DiagnosisEvent) -> list[ResultCorrection]:
    """Results the document marks corrected (C) or deleted (D), as the HL7 listener reports
    them."""
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


def reader_failure(exc: Exception, label: str, what: str) -> IntakeResult:
    """A reader bug: the document (``what``: "file", "message") is kept aside, the traceback
    goes to the log only. Call it from an ``except`` block."""
    log.exception("%s: unexpected error while reading", label)
    return IntakeResult(IntakeOutcome.UNUSABLE, problem=InputError(
        f"the {what} could not be read because of an internal error ({type(exc).__name__})",
        where=label,
        fix=f"report it to the plugin's maintainers with the service log; the {what} is kept",
    ))


def record_received(runtime: Prostop, events: list[DiagnosisEvent], label: str, *,
                  adapter: str, host: str) -> IntakeResult:
    """Record the COVID-relevant ``events`` of the document ``label`` durably (deduplicated),
    as ``adapter`` received them from ``host``, then report its corrected results."""
    policy = runtime.settings.eligibility
    relevant = [e for e in events if is_covid_relevant(e.evidence, policy)]
    if not relevant:
        return IntakeResult(IntakeOutcome.IRRELEVANT)
    recorded = [as_received(event, host, adapter=adapter) for event in relevant]
    for event in recorded:
        try:
            runtime.hooks.diagnosis_recorded(event)
        except Exception as exc:
            failure = f"{type(exc).__name__}: {exc}"
            if not is_stored(runtime, event):
                return IntakeResult(IntakeOutcome.RETRY, failure=failure)
            # stored, then the flow failed further on: the record shows it, the document is done
            log.error("%s: event stored, but the flow stopped after it: %s", label, failure)
    for event in recorded:
        for correction in corrected_results(event):
            try:
                runtime.hooks.result_corrected(correction)
            except Exception:
                log.exception("%s: flagging a corrected result failed", label)
    return IntakeResult(IntakeOutcome.RECORDED, recorded=len(recorded))
