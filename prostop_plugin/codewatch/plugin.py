"""The built-in plugin that counts the codes of results read from their words.

It wraps :func:`~prostop_plugin.hooks.prostop_diagnosis_recorded`: once the core has stored an
event (every adapter hands its events there), the codes its results' words explained are
counted (:mod:`.store`). Counting never stops the flow: a failure is logged and the event goes
on; an event the core did not store is not counted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator
from datetime import datetime

from prostop_plugin.codewatch.store import SeenCodes
from prostop_plugin.eligibility import EligibilityPolicy
from prostop_plugin.eligibility.observations import codes_seen
from prostop_plugin.hooks import hookimpl
from prostop_plugin.models import DiagnosisEvent, IssuanceRecord
from prostop_plugin.values import PARIS

log = logging.getLogger(__name__)


class CodeWatchPlugin:
    def __init__(self, store: SeenCodes, policy: EligibilityPolicy,
                 clock: Callable[[], datetime]) -> None:
        self.store = store
        self.policy = policy
        self.clock = clock

    @hookimpl(wrapper=True)
    def prostop_diagnosis_recorded(
        self, event: DiagnosisEvent
    ) -> Generator[None, IssuanceRecord | None, IssuanceRecord | None]:
        record = yield  # the core stores the event first; its failure passes through
        if record is not None:
            self.count(event)
        return record

    def count(self, event: DiagnosisEvent) -> None:
        try:
            seen = codes_seen(event.evidence, self.policy)
            if seen:
                today = self.clock().astimezone(PARIS).date()
                self.store.record(event.source.dedupe_key(), seen, today)
        except Exception as exc:  # statistics: never a reason to stop a result
            log.warning("codes seen: not counted (%s: %s)", type(exc).__name__, exc)
