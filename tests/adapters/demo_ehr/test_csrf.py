"""The demo EHR's forms carry the console's CSRF scheme (issue 10): over real HTTP against the
running EHR, a POST without this browser's token, with a forged one or with another browser's,
is refused with 403 before its route runs, and nothing changes — a decision, a logout, a login,
a file import (multipart), the patient's phone; with the token the same forms work."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from prostop_demo_ehr.samples import sample_file
from prostop_plugin.models import IssuanceRecord, IssuanceState
from prostop_plugin.simulator import RunningSimulator
from prostop_plugin.texts.formatting import PARIS
from tests.adapters.demo_ehr.conftest import RunningEhr, lab_request, started_ehr

DURAND = "810003456789"
LUC = "DOS-5120"
REFUSED = "Ce formulaire a expiré"


@pytest.fixture(scope="module")
def ehr(tmp_path_factory: pytest.TempPathFactory,
        ehr_simulator: RunningSimulator) -> Iterator[RunningEhr]:
    """An EHR of its own: its patients untouched by other tests."""
    folder: Path = tmp_path_factory.mktemp("demo-ehr-csrf")
    with started_ehr(folder, ehr_simulator) as running:
        yield running


def browser(ehr: RunningEhr) -> httpx.Client:
    return httpx.Client(base_url=ehr.url, timeout=10, trust_env=False)


def token_of(client: httpx.Client, page: str) -> str:
    """The token the page's forms carry for this browser, as a browser would send it."""
    found = re.search(r'name="csrf" value="([^"]+)"', client.get(page).text)
    assert found is not None, f"no CSRF token in the forms of {page}"
    return found.group(1)


def log_in(client: httpx.Client) -> None:
    """Dr DURAND's e-CPS login (the simulator approves at once)."""
    started = client.post("/login", data={"practitioner": DURAND, "next": "/patients",
                                          "csrf": token_of(client, "/login")})
    assert started.status_code == 303, started.text
    deadline = time.monotonic() + 20
    while client.get("/login/wait/status.json").json()["status"] == "waiting":
        assert time.monotonic() < deadline, "the e-CPS login did not finish"
        time.sleep(0.05)
    assert client.get("/login/wait").status_code == 303  # the session cookie
    assert client.get("/patients").status_code == 200


@pytest.fixture
def logged_in(ehr: RunningEhr) -> Iterator[httpx.Client]:
    with browser(ehr) as client:
        log_in(client)
        yield client


def waiting(ehr: RunningEhr) -> IssuanceRecord:
    """Luc MARTIN's positive RT-PCR, arrived from the lab: a request waiting for a decision."""
    return lab_request(ehr, LUC)


def presented(token: str | None, client: httpx.Client, ehr: RunningEhr) -> dict[str, str]:
    """The csrf field a forged form sends: none, empty, made up, or another browser's."""
    if token == "other-browser":
        with browser(ehr) as other:
            log_in(other)
            return {"csrf": token_of(other, "/patients")}
    return {} if token is None else {"csrf": token}


@pytest.mark.parametrize("token", [None, "", "forged", "other-browser"])
def test_a_post_without_this_browsers_token_is_refused_and_changes_nothing(
    ehr: RunningEhr, logged_in: httpx.Client, token: str | None
) -> None:
    record = waiting(ehr)
    form = presented(token, logged_in, ehr)
    decided = logged_in.post(f"/issuances/{record.id}/decide", data=form | {
        "action": "approve", "qr_unavailable": "1", "back": "/pending"})
    assert decided.status_code == 403 and REFUSED in decided.text
    assert ehr.runtime.ledger.get(record.id).state == IssuanceState.AWAITING_CONFIRMATION

    known = len(ehr.runtime.ledger.summaries())
    patient = ehr.plugin.store().patient(LUC)
    assert patient is not None
    lab_file = sample_file("rtpcr_positive", patient, datetime.now(PARIS), "LABO-DEMO")
    imported = logged_in.post(f"/patients/{LUC}/import", data=form,
                              files={"file": ("rtpcr.hl7", lab_file, "application/hl7-v2")})
    assert imported.status_code == 403 and REFUSED in imported.text
    assert len(ehr.runtime.ledger.summaries()) == known  # nothing recorded

    logout = logged_in.post("/logout", data=form)
    assert logout.status_code == 403
    assert logged_in.get("/patients").status_code == 200  # still logged in


def test_the_login_and_the_phone_need_the_token_too(ehr: RunningEhr) -> None:
    """Before any login (the pre-login cookie's token): no e-CPS request is sent, no code is
    checked with the code service without it."""
    asked = len(ehr.simulator.state.ciba.listing())
    with browser(ehr) as client:
        client.get("/login")  # the pre-login cookie: its token is not "forged"
        for form in ({}, {"csrf": "forged"}):
            answer = client.post("/login", data=form | {"practitioner": DURAND})
            assert answer.status_code == 403 and REFUSED in answer.text
            phone = client.post("/phone", data=form | {"code": "AAAAAA"})
            assert phone.status_code == 403
        assert len(ehr.simulator.state.ciba.listing()) == asked
        checked = client.post("/phone", data={"code": "AAA", "csrf": token_of(client, "/phone")})
        assert checked.status_code == 422 and "6 lettres" in checked.text  # the route ran


def test_with_the_token_the_same_forms_work(ehr: RunningEhr, logged_in: httpx.Client) -> None:
    record = waiting(ehr)
    token = token_of(logged_in, f"/patients/{LUC}")
    decided = logged_in.post(f"/issuances/{record.id}/decide", data={
        "csrf": token, "action": "decline", "reason": "test", "back": f"/patients/{LUC}"})
    assert decided.status_code == 303
    assert ehr.runtime.ledger.get(record.id).state == IssuanceState.DECLINED

    patient = ehr.plugin.store().patient(LUC)
    assert patient is not None
    lab_file = sample_file("rtpcr_positive", patient, datetime.now(PARIS), "LABO-DEMO")
    imported = logged_in.post(f"/patients/{LUC}/import", data={"csrf": token},
                              files={"file": ("rtpcr.hl7", lab_file, "application/hl7-v2")})
    assert imported.status_code == 303 and "?dialog=" in imported.headers["location"]

    assert logged_in.post("/logout", data={"csrf": token}).status_code == 303
    assert logged_in.get("/patients").status_code == 303  # logged out: to the login page
