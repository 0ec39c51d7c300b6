"""CDS Hooks 2.0 over real HTTP, with spec-shaped requests signed as a CDS client signs them:
discovery, a card linking to the console for a patient with a waiting request (matched by INS),
no card otherwise, and the spec's errors."""

from __future__ import annotations

import json
import logging
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
from prostop_plugin.testing.helpers import ScriptedPhysician
from tests.console.conftest import RunningConsole, log_in, started_console
from tests.fhir import samples

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
                 prefetch: bool = True, observations: list[dict[str, Any]] | None = None,
                 conditions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A spec-shaped call; the prefetch as a CDS client fills PREFETCH's three templates."""
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
        body["prefetch"] = samples.prefetch(observations, conditions, patient)
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
        assert service["prefetch"] == {
            "patient": "Patient/{{context.patientId}}",
            "observations": "Observation?patient={{context.patientId}}&_sort=-date&_count=200",
            "conditions": "Condition?patient={{context.patientId}}&_sort=-recorded-date"
            "&_count=100",
        }


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


# -- the prefetch read and evaluated as of today: a card for this patient ----------------------


def patient_link(card: dict[str, Any], console: RunningConsole) -> str:
    [link] = card["links"]
    assert link["type"] == "absolute" and link["label"] == \
        "Ouvrir le patient dans la console StopCovid"
    assert link["url"].startswith(f"{console.url}/patient/")
    path = link["url"].removeprefix(console.url)
    for secret in ("280013306312376", "DUPONT", "pat-42"):  # no patient data in the URL
        assert secret not in path
    return str(path)


def one_card(console: RunningConsole, key: ec.EllipticCurvePrivateKey,
             **prefetch: Any) -> dict[str, Any]:
    answer = call(console, signed(console, key), patient_view(**prefetch))
    assert answer.status_code == 200, answer.text
    [card] = answer.json()["cards"]
    assert len(card["summary"]) <= 140 and uuid.UUID(card["uuid"])
    assert card["source"] == {"label": "Console StopCovid (prostop-plugin)"}
    return dict(card)


def test_an_eligible_prefetch_gives_a_card_with_the_link_to_this_patient(
    cds_console: RunningConsole, ehr_key: ec.EllipticCurvePrivateKey,
    browser_client: httpx.Client, caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO):
        card = one_card(cds_console, ehr_key, observations=[samples.rtpcr(), samples.ct_value()])
    assert card["indicator"] == "warning"
    assert card["summary"] == ("StopCovid : cas confirmé d'après le dossier — un code de "
                               "déclaration peut être remis")
    assert "RT-PCR SARS-CoV-2 positive (94500-6), prélevée le 18/11/2020" in card["detail"]
    assert "Évalué le 20/11/2020" in card["detail"]
    path = patient_link(card, cds_console)
    for secret in ("280013306312376", "DUPONT", "Camille", "pat-42"):
        assert secret not in caplog.text
    page = log_in(browser_client, cds_console, next_path=path)
    assert page.status_code == 200 and "DUPONT Camille" in page.text
    assert "cas confirmé" in page.text and "prélevée le 18/11/2020" in page.text
    assert "Aucune demande n&#39;attend pour ce patient." in page.text


def test_a_probable_case_gives_a_card_and_without_signs_an_information(
    cds_console: RunningConsole, ehr_key: ec.EllipticCurvePrivateKey,
) -> None:
    suspected = samples.condition("U07.2", verification="provisional",
                                  display="COVID-19, virus non identifié")
    card = one_card(cds_console, ehr_key, conditions=[suspected],
                    observations=[samples.chest_ct(), *samples.symptoms()])
    assert card["indicator"] == "warning" and "cas probable" in card["summary"]
    assert "date de début des symptômes, le 16/11/2020" in card["detail"]
    without_signs = one_card(cds_console, ehr_key, conditions=[suspected],
                             observations=[samples.chest_ct()])
    assert without_signs["indicator"] == "info"
    assert without_signs["summary"] == ("StopCovid : pas de code de déclaration (Signes "
                                        "scanographiques sans signes cliniques renseignés)")
    patient_link(without_signs, cds_console)


@pytest.mark.parametrize(("observations", "conditions"), [
    ([samples.glucose()], []),  # nothing about COVID-19
    ([samples.rtpcr(effective="2020-09-01T09:00:00+02:00", issued="2020-09-02")], []),  # old
    ([], [samples.condition("E11.9", display="Diabète de type 2")]),
    (None, None),  # empty searches: null
])
def test_nothing_recent_about_covid_no_card(
    cds_console: RunningConsole, ehr_key: ec.EllipticCurvePrivateKey,
    observations: list[dict[str, Any]] | None, conditions: list[dict[str, Any]] | None,
) -> None:
    answer = call(cds_console, signed(cds_console, ehr_key),
                  patient_view(observations=observations, conditions=conditions))
    assert answer.status_code == 200 and answer.json() == {"cards": []}


def test_a_waiting_request_is_the_card_and_the_patient_page_lists_it(
    cds_console: RunningConsole, ehr_key: ec.EllipticCurvePrivateKey,
    browser_client: httpx.Client,
) -> None:
    card = one_card(cds_console, ehr_key, observations=[samples.rtpcr()])
    path = patient_link(card, cds_console)
    record = cds_console.waiting()  # the lab's HPRIM for the same INS arrives
    pending = one_card(cds_console, ehr_key, observations=[samples.rtpcr()])
    assert pending["indicator"] == "warning" and "attend votre confirmation" in \
        pending["summary"]
    assert pending["links"][0]["url"] == f"{cds_console.url}/demandes/{record.id}"
    page = log_in(browser_client, cds_console, next_path=path)
    assert f'href="/demandes/{record.id}"' in page.text
    assert "Aucune demande" not in page.text
    # the same patient keeps the same link; an unknown one says it expired
    again = one_card(cds_console, ehr_key, ins="180013306312329",
                     observations=[samples.rtpcr()])
    assert patient_link(again, cds_console) != path
    gone = browser_client.get(f"{cds_console.url}/patient/not-a-handle")
    assert gone.status_code == 404 and "Ce lien a expiré" in gone.text


def test_a_code_already_given_is_said_not_offered_again(
    cds_console: RunningConsole, ehr_key: ec.EllipticCurvePrivateKey,
) -> None:
    record = ScriptedPhysician().decide(cds_console.runtime, cds_console.waiting().id)
    assert record.state.holds_code
    card = one_card(cds_console, ehr_key, observations=[samples.rtpcr()])
    assert card["indicator"] == "info" and "a déjà été remis" in card["summary"]


@pytest.mark.parametrize(("prefetch", "status", "reason"), [
    ({"observations": samples.patient()}, 400,
     "prefetch.observations: expected a Bundle of Observation resources, found Patient"),
    ({"observations": samples.bundle(samples.condition())}, 400,
     "prefetch.observations.entry[0].resource: expected Observation, found Condition"),
    ({"observations": samples.bundle(samples.rtpcr(effective="18/11/2020 09:30"))}, 400,
     "prefetch.observations.entry[0].resource.effectiveDateTime: not a FHIR dateTime"),
    ({"conditions": samples.bundle(samples.condition(patient_id="pat-7"))}, 400,
     "prefetch.conditions.entry[0].resource.subject: the resource is not about the patient"),
    ({"observations": {"resourceType": "OperationOutcome"}}, 412,
     "the EHR could not fetch prefetch 'observations'"),
])
def test_a_malformed_prefetch_is_refused_with_its_reason(
    cds_console: RunningConsole, ehr_key: ec.EllipticCurvePrivateKey,
    caplog: pytest.LogCaptureFixture, prefetch: dict[str, Any], status: int, reason: str,
) -> None:
    body = patient_view(observations=[samples.rtpcr()])
    body["prefetch"] |= prefetch
    with caplog.at_level(logging.INFO):
        answer = call(cds_console, signed(cds_console, ehr_key), body)
    assert answer.status_code == status, answer.text
    assert reason in answer.json()["error"]
    for secret in ("18/11/2020", "pat-7", "280013306312376", "DUPONT"):
        assert secret not in answer.json()["error"] and secret not in caplog.text


def test_missing_prefetch_bad_ids_and_oversized_bodies(
    cds_console: RunningConsole, ehr_key: ec.EllipticCurvePrivateKey,
) -> None:
    body = patient_view()
    del body["prefetch"]["conditions"]
    answer = call(cds_console, signed(cds_console, ehr_key), body)
    assert answer.status_code == 412 and "prefetch 'conditions' is missing" in \
        answer.json()["error"]
    body = patient_view()
    body["context"]["patientId"] = "../../Patient?x=1"
    assert call(cds_console, signed(cds_console, ehr_key), body).status_code == 400
    huge = patient_view(observations=[samples.glucose()] * 20_000)
    assert call(cds_console, signed(cds_console, ehr_key), huge).status_code == 413
    nan = httpx.post(f"{cds_console.url}/cds-services/{SERVICE}", content=b'{"hook": NaN}',
                     headers={"Authorization": f"Bearer {signed(cds_console, ehr_key)}",
                              "Content-Type": "application/json"}, timeout=10.0)
    assert nan.status_code == 400 and "NaN" in nan.json()["error"]
