"""Service metrics: what an interface engine's operators watch, in the Prometheus format.

One facade, :data:`metrics`, that the core, the adapters and the HTTP clients call in one line
each; ``prostop serve`` exposes the figures on ``[metrics] listen`` (see
:mod:`prostop_plugin.metrics_service`). Only counts and durations, labelled with names the
plugin chose (adapter and format names, states, ACK codes, error kinds): never a patient, a
file name, a message id or a code. Free-text label values coming from outside (a JSON event's
``adapter`` or ``format``) are reduced to ``[a-z0-9_]`` and 32 characters, else ``other``.

The metrics live in their own :class:`~prometheus_client.CollectorRegistry` (not the library's
global one), shared by the process: a process runs one ``prostop serve``.
"""

from __future__ import annotations

import re
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram, Info

from prostop_plugin.hooks import hookimpl
from prostop_plugin.version import __version__

if TYPE_CHECKING:
    from prostop_plugin.models import DiagnosisEvent, IssuanceRecord, IssuanceState

__all__ = ["REGISTRY", "Metrics", "MetricsObserver", "metrics"]

REGISTRY = CollectorRegistry(auto_describe=True)
_LABEL = re.compile(r"^[a-z0-9_]{1,32}$")
#: latency buckets (seconds): an ACK in milliseconds, a code-service call within its timeouts
_FAST = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_HTTP = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def label(value: str | None) -> str:
    """A label value that cannot carry data: known-form names, else ``other``."""
    if value is None:
        return "none"
    lowered = value.strip().lower().replace("-", "_")
    return lowered if _LABEL.match(lowered) else "other"


def snake(name: str | None) -> str | None:
    """``IncompleteInputError`` → ``incomplete_input_error`` (an error's kind as a label)."""
    if name is None:
        return None
    spaced = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    return re.sub(r"([a-z\d])([A-Z])", r"\1_\2", spaced).lower()


def ack_code(ack: bytes | None) -> str:
    """MSA-1 of an HL7 ACK (``AA``, ``AE``, ``AR``, ``CA``…), ``none`` when none was sent."""
    if ack is None:
        return "none"
    found = re.search(rb"(?:^|[\r\n])MSA\|([A-Z]{2})", ack)
    return found.group(1).decode("ascii") if found else "other"


class Metrics:
    """The figures, and one method per thing that happens."""

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.registry = registry
        #: the labelled children counted per message, found once (``labels()`` validates
        #: and locks on every call)
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        Info("prostop_build", "the running prostop-plugin", registry=registry).info(
            {"version": __version__})
        self.events = Counter(
            "prostop_events_received", "Events handed to the core and stored (a resent one "
            "is recognised and counts again), per adapter and format",
            ["adapter", "format"], registry=registry)
        self.events_failed = Counter(
            "prostop_events_failed", "Events the core could not store (the sender is told "
            "to resend)", ["adapter"], registry=registry)
        self.messages = Counter(
            "prostop_mllp_messages", "HL7 messages answered by the MLLP listener, per ACK "
            "code (AA stored or not about COVID-19, AE unreadable, AR refused or retry later)",
            ["ack"], registry=registry)
        self.ack_seconds = Histogram(
            "prostop_mllp_ack_seconds", "Time from a complete HL7 message to its ACK",
            buckets=_FAST, registry=registry)
        self.files = Counter(
            "prostop_files_processed", "Files read by a file adapter, per outcome "
            "(recorded, irrelevant, quarantined)", ["adapter", "outcome"], registry=registry)
        self.quarantined = Counter(
            "prostop_files_quarantined", "Files set aside as unusable, per kind of problem",
            ["adapter", "reason"], registry=registry)
        self.decisions = Counter(
            "prostop_eligibility_decisions", "Eligibility decisions (confirmed, probable, "
            "not_eligible)", ["decision"], registry=registry)
        self.transitions = Counter(
            "prostop_issuance_transitions", "Issuances entering each state (awaiting_"
            "confirmation, approved, declined, issued, written_back, expired, issue_failed…)",
            ["state"], registry=registry)
        self.http_seconds = Histogram(
            "prostop_http_request_seconds", "Requests to the code service and Pro Santé "
            "Connect, until the answer's headers, per service and outcome (2xx, 4xx, 5xx, "
            "error)", ["service", "outcome"], buckets=_HTTP, registry=registry)
        self.http_errors = Counter(
            "prostop_http_errors", "Requests to the code service or PSC that got no usable "
            "answer (timeout, connection, tls, http_5xx, http_429)", ["service", "kind"],
            registry=registry)

    def _child(self, metric: Counter, *values: str) -> Any:
        """``metric.labels(*values)``, remembered."""
        key = (id(metric), values)
        child = self._children.get(key)
        if child is None:
            child = self._children.setdefault(key, metric.labels(*values))
        return child

    # -- adapters -------------------------------------------------------------------------

    def mllp_answered(self, seconds: float, ack: bytes | None) -> None:
        """An HL7 message got its ACK ``seconds`` after it was complete."""
        self._child(self.messages, ack_code(ack)).inc()
        self.ack_seconds.observe(seconds)

    def file_processed(self, adapter: str, outcome: str, reason: str | None = None) -> None:
        """A file adapter finished a file: ``recorded``, ``irrelevant`` or ``quarantined``
        (``reason``: the kind of problem, e.g. the error's class name; never its text)."""
        self.files.labels(label(adapter), label(outcome)).inc()
        if outcome == "quarantined":
            self.quarantined.labels(label(adapter), label(snake(reason))).inc()

    # -- the core -------------------------------------------------------------------------

    def event_received(self, event: DiagnosisEvent, *, stored: bool) -> None:
        if stored:
            self._child(self.events, label(event.source.adapter),
                        label(event.source.format)).inc()
        else:
            self.events_failed.labels(label(event.source.adapter)).inc()

    def issuance_changed(self, record: IssuanceRecord, previous: IssuanceState | None) -> None:
        self._child(self.transitions, record.state.value).inc()
        if previous is not None and previous.value == "received" and record.decision:
            self._child(self.decisions, record.decision.decision).inc()

    def http_answered(self, service: str, status: int, seconds: float) -> None:
        self.http_seconds.labels(label(service), f"{status // 100}xx").observe(seconds)
        if status >= 500 or status == 429:
            self.http_errors.labels(label(service), f"http_{status if status == 429 else '5xx'}"
                                    ).inc()

    def http_failed(self, service: str, kind: str, seconds: float) -> None:
        """No answer: ``kind`` is timeout, connection or tls."""
        self.http_seconds.labels(label(service), "error").observe(seconds)
        self.http_errors.labels(label(service), label(kind)).inc()


#: the process's metrics
metrics = Metrics()


class MetricsObserver:
    """Built-in plugin: counts events handed to the core and the issuances' transitions."""

    def __init__(self, facade: Metrics = metrics) -> None:
        self.metrics = facade

    @hookimpl(wrapper=True)
    def prostop_diagnosis_recorded(
        self, event: DiagnosisEvent
    ) -> Generator[None, IssuanceRecord | None, IssuanceRecord | None]:
        try:
            record = yield
        except BaseException:
            self.metrics.event_received(event, stored=False)
            raise
        self.metrics.event_received(event, stored=record is not None)
        return record

    @hookimpl
    def prostop_issuance_changed(
        self, record: IssuanceRecord, previous: IssuanceState | None
    ) -> None:
        self.metrics.issuance_changed(record, previous)
