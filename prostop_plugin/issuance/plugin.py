"""The built-in plugin answering the event hooks with the engine."""

from __future__ import annotations

from prostop_plugin.hooks import hookimpl
from prostop_plugin.issuance.engine import IssuanceEngine
from prostop_plugin.models import DiagnosisEvent, IssuanceRecord, ResultCorrection


class IssuancePlugin:
    """Adapters fire ``prostop_diagnosis_recorded``/``prostop_result_corrected``; we answer."""

    def __init__(self, engine: IssuanceEngine) -> None:
        self.engine = engine

    @hookimpl
    def prostop_diagnosis_recorded(self, event: DiagnosisEvent) -> IssuanceRecord:
        return self.engine.record_event(event)

    @hookimpl
    def prostop_result_corrected(self, correction: ResultCorrection) -> None:
        self.engine.result_corrected(correction)
