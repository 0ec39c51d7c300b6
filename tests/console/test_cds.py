"""CDS Hooks 2.0 over real HTTP, with spec-shaped requests signed as a CDS client signs them:
discovery, a card linking to the console for a patient with a waiting request (matched by INS),
no card otherwise, and the spec's errors."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from prostop_plugin.simulator import RunningSimulator
from tests.console.conftest import RunningConsole, started_console

SERVICE = "prostop-stopcovid-patient-view"
EHR_ISSUER = "https://ehr.cabinet.example"


@pytest.fixture(scope="module")
def ehr_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP384R1())


@pytest.fixture
def cds_console(tmp_path: Path, simulator: RunningSimulator,
                ehr_key: ec.EllipticCurvePrivateKey) -> Iterator[RunningConsole]:
    jwk = json.loads(ECAlgorithm.to_jwk(ehr_key.public_key())) | {"kid": "ehr-1", "use": "sig"}
    keys = tmp_path / "cds-clients.jwks.json"
    keys.write_text(json.dumps({"keys": [jwk]}), encoding="utf-8")
    with started_console(tmp_path, simulator, cds_jwks_file=str(keys),
                         cds_issuers=[EHR_ISSUER]) as console:
        yield console


def signed(console: RunningConsole, key: ec.EllipticCurvePrivateKey, service: str = SERVICE,
           **claims: Any) -> str:
    now = int(time.time())
    values = {"iss": EHR_ISSUER, "aud": f"{console.url}/cds-services/{service}", "iat": now,
              "exp": now + 300, "jti": str(uuid.uuid4())} | claims
    return jwt.encode(values, key, algorithm="ES384", headers={"kid": "ehr-1"})


def patient_view(ins: str | None = "280013306312376", *, hook: str = "patient-view",
                 prefetch: bool = True) -> dict[str, Any]:
    patient: dict[str, Any] = {"resourceType": "Patient", "id": "pat-42",
                               "name": [{"family": "DUPONT", "given": ["Camille"]}]}
    if ins:
        patient["identifier"] = [{"system": "urn:oid:1.2.250.1.213.1.4.8", "value": ins}]
    body: dict[str, Any] = {
        "hookInstance": str(uuid.uuid4()), "hook": hook,
        "fhirServer": "https://ehr.cabinet.example/fhir",
        "context": {"userId": "Practitioner/dr-durand", "patientId": "pat-42"},
    }
    if prefetch:
        body["prefetch"] = {"patient": patient}
    return body


def call(console: RunningConsole, token: str | None, body: Any,
         service: str = SERVICE) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.post(f"{console.url}/cds-services/{service}", json=body, headers=headers,
                      timeout=10.0)


def test_discovery_lists_the_services(cds_console: RunningConsole) -> None:
    found = httpx.get(f"{cds_console.url}/cds-services", timeout=10.0).json()
    hooks = {s["hook"]: s for s in found["services"]}
    assert set(hooks) == {"patient-view", "encounter-start"}
    for service in hooks.values():
        assert {"hook", "id", "title", "description", "prefetch"} <= set(service)
        assert service["prefetch"] == {"patient": "Patient/{{context.patientId}}"}


def test_a_waiting_request_gives_a_card_with_the_console_link(
    cds_console: RunningConsole, ehr_key: ec.EllipticCurvePrivateKey,
    caplog: pytest.LogCaptureFixture,
) -> None:
    record = cds_console.waiting()
    answer = call(cds_console, signed(cds_console, ehr_key), patient_view())
    assert answer.status_code == 200, answer.text
    [card] = answer.json()["cards"]
    assert len(card["summary"]) <= 140 and "StopCovid" in card["summary"]
    assert card["indicator"] in ("info", "warning", "critical")
    assert card["source"]["label"]
    assert uuid.UUID(card["uuid"])
    [link] = card["links"]
    assert link == {"label": "Confirmer dans la console StopCovid", "type": "absolute",
                    "url": f"{cds_console.url}/demandes/{record.id}"}
    assert "280013306312376" not in caplog.text and "DUPONT" not in caplog.text
    encounter = call(cds_console, signed(cds_console, ehr_key,
                                         service="prostop-stopcovid-encounter-start"),
                     patient_view(hook="encounter-start"),
                     service="prostop-stopcovid-encounter-start")
    assert len(encounter.json()["cards"]) == 1


def test_nothing_waiting_no_card(cds_console: RunningConsole,
                                 ehr_key: ec.EllipticCurvePrivateKey) -> None:
    cds_console.waiting()
    for ins in ("180013306312329", None):  # another patient; a patient without INS
        answer = call(cds_console, signed(cds_console, ehr_key), patient_view(ins))
        assert answer.status_code == 200 and answer.json() == {"cards": []}


def test_the_specs_errors(cds_console: RunningConsole,
                          ehr_key: ec.EllipticCurvePrivateKey) -> None:
    def status(token: str | None, body: Any, service: str = SERVICE) -> int:
        return call(cds_console, token, body, service).status_code

    assert status(None, patient_view()) == 401
    assert status(signed(cds_console, ehr_key, aud="https://elsewhere"), patient_view()) == 401
    assert status(signed(cds_console, ehr_key, iss="https://stranger"), patient_view()) == 401
    assert status(signed(cds_console, ec.generate_private_key(ec.SECP384R1())),
                  patient_view()) == 401  # a key the console does not trust
    replayed = signed(cds_console, ehr_key)
    assert status(replayed, patient_view()) == 200
    assert status(replayed, patient_view()) == 401  # a JWT serves once (jti)
    assert status(signed(cds_console, ehr_key), {"hook": "patient-view"}) == 400
    assert status(signed(cds_console, ehr_key), patient_view(hook="order-sign")) == 400
    assert status(signed(cds_console, ehr_key), patient_view(prefetch=False)) == 412
    assert status(signed(cds_console, ehr_key, service="nope"), patient_view(),
                  service="nope") == 404


def test_without_trusted_keys_every_call_is_refused(console: RunningConsole,
                                                    ehr_key: ec.EllipticCurvePrivateKey) -> None:
    console.waiting()
    answer = call(console, signed(console, ehr_key), patient_view())
    assert answer.status_code == 401 and "cds_jwks_file" in answer.json()["error"]
