"""Privacy on the wire: issuing codes for every eligible case of the shared corpus, through the
real readers, engine, CIBA and code service, sends no patient identifier anywhere."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from prostop_plugin.app import Prostop
from prostop_plugin.config import Settings
from prostop_plugin.models import (
    ConfirmationDecision,
    DiagnosisEvent,
    IssuanceState,
    PatientRef,
    Practitioner,
)
from prostop_plugin.readers import read_file
from prostop_plugin.simulator.options import SimulatorOptions
from prostop_plugin.simulator.server import RunningSimulator, run_in_thread
from tests.corpus_location import CORPUS as SHARED

DURAND = Practitioner(national_id="10003456789", profession_code="10")


@pytest.fixture
def simulator(tmp_path: Path) -> Iterator[RunningSimulator]:
    with run_in_thread(SimulatorOptions(request_log=tmp_path / "wire.jsonl",
                                        ciba_interval=0.05)) as sim:
        yield sim


def identifiers(patient: PatientRef) -> set[str]:
    """Every form in which this patient could be recognised in a request."""
    found = {patient.host_patient_id}
    for value in (patient.ins, patient.family_name, patient.given_name):
        if value:
            found |= {value, value.lower(), value.upper()}
    if patient.birth_date:
        d: date = patient.birth_date
        found |= {d.isoformat(), d.strftime("%Y%m%d"), d.strftime("%d/%m/%Y"),
                  d.strftime("%d%m%Y")}
    return {f for f in found if len(f) >= 3}


def test_no_patient_identifier_reaches_the_code_service_or_psc(
    simulator: RunningSimulator, tmp_path: Path
) -> None:
    settings = Settings(
        data_dir=tmp_path / "var", as_of=date(2020, 11, 20),
        code_service={"base_url": simulator.base_url},
        psc={"issuer": simulator.psc_issuer},
    )
    events: list[DiagnosisEvent] = [
        event for path in sorted(SHARED.iterdir()) if path.suffix in (".hl7", ".hpr", ".xml")
        for event in read_file(path)
    ]
    issued = 0
    with Prostop.open(settings) as prostop:
        for event in events:
            record = prostop.hooks.diagnosis_recorded(event)
            assert record is not None
            if record.state == IssuanceState.AWAITING_CONFIRMATION:
                done = prostop.engine.decide(record.id, ConfirmationDecision(
                    approved=True, practitioner=DURAND, qr_unavailable_attested=True,
                    rtpcr_positive_attested=True))
                assert done.code_last2, done.error
                issued += 1
    # ten files, two patients (matched on the INS across senders): one code per episode
    assert issued == 2
    wire = (tmp_path / "wire.jsonl").read_text(encoding="utf-8")
    requests = [json.loads(line) for line in wire.splitlines()]
    generate = [r for r in requests if r["path"].endswith("/generate/short")]
    assert generate and all(not r.get("query") and not r.get("body") for r in generate)
    leaked = {
        needle for event in events for needle in identifiers(event.patient) if needle in wire
    }
    assert leaked == set()
