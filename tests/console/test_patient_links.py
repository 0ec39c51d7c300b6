"""The card links' handles: random, the same for the same patient, bounded in number and life."""

from __future__ import annotations

from prostop_plugin.console.patient_links import PatientLinks
from prostop_plugin.models import PatientRef


def patient(n: int) -> PatientRef:
    return PatientRef(host_patient_id=f"pat-{n}", family_name="DUPONT")


def test_the_same_patient_keeps_the_handle_and_the_latest_view() -> None:
    links = PatientLinks()
    first = links.add(patient(1), "key-1", None)
    again = links.add(patient(1).model_copy(update={"given_name": "Camille"}), "key-1", None)
    other = links.add(patient(2), None, None)
    assert first == again != other and len(first) >= 32
    view = links.get(first)
    assert view is not None and view.patient.given_name == "Camille"
    assert "pat-1" not in first and "DUPONT" not in first


def test_the_oldest_are_forgotten_beyond_the_limit() -> None:
    links = PatientLinks(limit=2)
    handles = [links.add(patient(n), None, None) for n in range(3)]
    assert links.get(handles[0]) is None
    assert links.get(handles[1]) is not None and links.get(handles[2]) is not None
    assert links.add(patient(0), None, None) != handles[0]  # a new handle, not the forgotten


def test_an_expired_handle_opens_nothing() -> None:
    links = PatientLinks(lifetime=0)
    handle = links.add(patient(1), "key-1", None)
    assert links.get(handle) is None
    assert links.add(patient(1), "key-1", None) != handle
