"""The demo EHR passes the test kit's conformance suite (its web service runs under serve)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prostop_demo_ehr.plugin import DemoEhrPlugin
from prostop_demo_ehr.store import Patient
from prostop_plugin import DiagnosisEvent
from prostop_plugin.app import Prostop
from prostop_plugin.testing import AdapterConformance


class TestDemoEhrConformance(AdapterConformance):
    adapter = "demo_ehr"
    #: the next patient is not in the EHR yet (the write-back then fails: unknown patient)
    unregistered = False

    def make_plugin(self) -> object:
        return DemoEhrPlugin()

    def ehr(self) -> DemoEhrPlugin:
        assert isinstance(self.plugin, DemoEhrPlugin)
        return self.plugin

    def adapter_section(self, workdir: Path) -> dict[str, Any]:
        return {"port": 0}

    def bad_adapter_section(self, workdir: Path) -> tuple[dict[str, Any], str]:
        return {"port": 70000}, "port"

    def feed(self, runtime: Prostop, event: DiagnosisEvent) -> str:
        """As the consultation screen does, for a patient of the EHR."""
        ref = event.patient
        assert ref.birth_date is not None and ref.family_name and ref.given_name
        self.patient = Patient(ref.host_patient_id, ref.family_name, ref.given_name,
                               ref.birth_date, ref.sex or "U", ref.ins)
        if not self.unregistered:
            self.ehr().store().add_patient(self.patient)
        return super().feed(runtime, event)

    def delivered(self, runtime: Prostop, issuance_id: str) -> list[str]:
        """The note in the patient's record, as the physician reads it."""
        store = self.ehr().store()
        return [note.text for patient in store.patients()
                for note in store.record_notes(patient.id) if note.issuance_id == issuance_id]

    def break_write_back(self, runtime: Prostop) -> None:
        self.unregistered = True

    def repair_write_back(self, runtime: Prostop) -> None:
        self.ehr().store().add_patient(self.patient)
        self.unregistered = False
