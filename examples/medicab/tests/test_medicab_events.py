"""MediCab's diagnosis rows become events the plugin evaluates."""

from __future__ import annotations

from datetime import date

import pytest

from prostop_medicab.events import diagnosis_event
from prostop_plugin import Prostop, is_covid_relevant
from prostop_plugin.testing import RuntimeFactory, ScriptedPhysician

ROW = {
    "diagnostic_id": "DG-1042", "dossier": "P-0077", "nom": "DUPONT", "prenom": "Camille",
    "naissance": "1980-01-15", "sexe": "F", "cim10": "U07.1", "statut": "confirme",
    "saisi_le": "2020-11-19T10:30:00+01:00", "rpps": "10003456789",
}


def test_a_row_is_an_event_of_medicab() -> None:
    event = diagnosis_event(ROW, host="cabinet-durand")
    assert event.source.adapter == "medicab" and event.source.message_id == "DG-1042"
    assert event.patient.host_patient_id == "P-0077"
    assert event.practitioner is not None and event.practitioner.national_id == "810003456789"
    assert is_covid_relevant(event.evidence)


def test_a_row_missing_a_field_is_refused() -> None:
    with pytest.raises(KeyError):
        diagnosis_event({k: v for k, v in ROW.items() if k != "cim10"}, host="cabinet")


def test_medicab_records_then_decides_without_waiting(
    make_prostop_runtime: RuntimeFactory
) -> None:
    """The host's path: record() and decide_later() return at once; the code follows."""
    runtime: Prostop = make_prostop_runtime(as_of=date(2020, 11, 20))
    recorded = runtime.record(diagnosis_event(ROW, host="cabinet-durand"))
    assert recorded.confirmation is not None  # MediCab shows this dialog itself
    assert recorded.confirmation.decision.requires_rtpcr_attestation  # no RT-PCR on file
    decision = ScriptedPhysician().decision_for(recorded.confirmation)
    runtime.decide_later(recorded.issuance_id, decision)
    assert runtime.worker.wait_idle(30)
    assert runtime.ledger.get(recorded.issuance_id).state.received_code
