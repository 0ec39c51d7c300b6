"""What MediCab tells the plugin: a diagnosis of its consultation screen, as a
:class:`~prostop_plugin.DiagnosisEvent` (source adapter ``medicab``)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime

from prostop_medicab.settings import ADAPTER_NAME
from prostop_plugin import (
    PARIS,
    Coding,
    DiagnosisEvent,
    DiagnosisEvidence,
    DiagnosisStatus,
    EventSource,
    PatientRef,
    Practitioner,
)

#: MediCab's diagnosis statuses, and the plugin's
STATUSES: dict[str, DiagnosisStatus] = {
    "confirme": "final", "provisoire": "working", "admission": "admitting", "ecarte": "ruled_out",
}


def diagnosis_event(row: Mapping[str, str], *, host: str) -> DiagnosisEvent:
    """One row of MediCab's diagnosis table (its own field names) as an event.

    ``row["diagnostic_id"]`` is MediCab's key for the row: the event's ``message_id``, so the
    same row sent twice is one event.

    :raises KeyError: a field MediCab always fills is missing.
    :raises pydantic.ValidationError: a value the plugin cannot use (a bad date, RPPS…).
    """
    recorded = datetime.fromisoformat(row["saisi_le"])
    return DiagnosisEvent(
        source=EventSource(adapter=ADAPTER_NAME, host=host, format="ui",
                           message_id=row["diagnostic_id"]),
        patient=PatientRef(
            host_patient_id=row["dossier"], ins=row.get("ins") or None,
            family_name=row["nom"], given_name=row["prenom"],
            birth_date=date.fromisoformat(row["naissance"]), sex=row.get("sexe", "U"),
        ),
        practitioner=Practitioner(national_id="8" + row["rpps"], profession_code="10"),
        evidence=[DiagnosisEvidence(
            code=Coding(code=row["cim10"], system="I10"), status=STATUSES[row["statut"]],
            recorded_at=recorded, source_ref=f"medicab/diagnostic/{row['diagnostic_id']}",
        )],
        recorded_at=recorded if recorded.tzinfo else recorded.replace(tzinfo=PARIS),
    )
