"""The physician's path in the console over real HTTP: the request listed, the demo's dialog,
the attestation enforced, the code (as written to the outbox), the handout, decline, history,
and a PSC token that serves one issuance of the session that obtained it."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import httpx

from prostop_plugin.models import IssuanceState, Practitioner
from prostop_plugin.simulator import RunningSimulator
from tests.console.conftest import (
    BERNARD,
    RunningConsole,
    csrf_of,
    log_in,
    other_patient,
)

S = IssuanceState
CODE = re.compile(r'data-code="([A-Z0-9]{6})"')


def wait_for(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def decide(client: httpx.Client, console: RunningConsole, issuance_id: str,
           **form: str) -> httpx.Response:
    page = client.get(f"{console.url}/demandes/{issuance_id}")
    return client.post(f"{console.url}/demandes/{issuance_id}/decision",
                       data={"csrf": csrf_of(page)} | form)


def ciba_requests(simulator: RunningSimulator) -> list[str]:
    return [str(r["body"]) for r in simulator.logged_requests()
            if str(r["path"]).endswith("/ext/ciba/auth")]


def test_confirm_in_the_dialog_then_the_code_and_the_handout(
    console: RunningConsole, browser_client: httpx.Client
) -> None:
    record = console.waiting()
    listed = log_in(browser_client, console)
    assert f'href="/demandes/{record.id}"' in listed.text and "DUPONT CAMILLE" in listed.text
    assert "<title>(1) Demandes en attente" in listed.text
    dialog = browser_client.get(f"{console.url}/demandes/{record.id}")
    for shown in ("Déclaration StopCovid : remettre un code au patient ?", "Motifs",
                  "Éléments du dossier", "QR code SI-DEP", record.binding_message or "??"):
        assert shown in dialog.text
    refused = decide(browser_client, console, record.id, action="approve")
    assert refused.status_code == 303
    assert console.runtime.ledger.get(record.id).state == S.AWAITING_CONFIRMATION
    again = browser_client.get(f"{console.url}/demandes/{record.id}")
    assert 'data-testid="refusal"' in again.text and "QR code" in again.text
    decide(browser_client, console, record.id, action="approve", qr_unavailable="1")
    wait_for(lambda: console.runtime.ledger.get(record.id).state == S.WRITTEN_BACK)
    page = browser_client.get(f"{console.url}/demandes/{record.id}")
    found = CODE.search(page.text)
    assert found is not None and 'data-testid="written"' in page.text
    code = found.group(1)
    written = (console.outbox / f"prostop-{record.id}.hpr").read_bytes().decode("latin-1")
    assert code in written  # what the console shows is what reached the record
    sheet = browser_client.get(f"{console.url}/demandes/{record.id}/fiche")
    assert code in sheet.text and "TousAntiCovid" in sheet.text
    pdf = browser_client.get(f"{console.url}/demandes/{record.id}/fiche.pdf")
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    confirmed = [t for t in console.runtime.ledger.transitions(record.id)
                 if t[1] == "approved"]
    assert confirmed == [("awaiting_confirmation", "approved", "810003456789")]
    actions = [e.action for e in console.runtime.audit.entries() if e.issuance_id == record.id]
    assert {"console_decision_refused", "console_decision", "console_handout",
            "console_handout_pdf"} <= set(actions)


def test_the_login_token_serves_one_issuance_then_ciba_asks_with_its_digits(
    console: RunningConsole, browser_client: httpx.Client
) -> None:
    first = console.waiting()
    log_in(browser_client, console)
    decide(browser_client, console, first.id, action="approve", qr_unavailable="1")
    wait_for(lambda: console.runtime.ledger.get(first.id).state == S.WRITTEN_BACK)
    assert ciba_requests(console.simulator) == []  # the login's own token, fresh
    second = console.waiting(data=other_patient())
    assert second.id != first.id
    decide(browser_client, console, second.id, action="approve", qr_unavailable="1")
    wait_for(lambda: console.runtime.ledger.get(second.id).state.received_code, 20)
    [asked] = ciba_requests(console.simulator)  # a fresh token for this issuance
    assert f"binding_message={second.binding_message}" in asked


def test_a_session_never_uses_another_sessions_token(
    console: RunningConsole, browser_client: httpx.Client
) -> None:
    record = console.waiting()
    log_in(browser_client, console)  # Durand's token, in Durand's session only
    durand_session = browser_client.cookies["prostop_console"]
    with httpx.Client(follow_redirects=False, timeout=10.0) as other:
        assert other.get(f"{console.url}/demandes").status_code == 303  # its own login
        log_in(other, console, BERNARD)
        decide(other, console, record.id, action="approve", qr_unavailable="1")
        wait_for(lambda: console.runtime.ledger.get(record.id).state.received_code, 20)
    # Bernard's own login token served (Durand's would have been refused for him, and
    # CIBA asked instead); it is used up, Durand's is still his session's alone
    assert ciba_requests(console.simulator) == []
    stored = console.runtime.ledger.get(record.id)
    assert stored.confirmation is not None
    assert stored.confirmation.practitioner.national_id == BERNARD
    assert console.service.console is not None
    tokens = console.service.console.tokens
    durand = Practitioner(national_id="810003456789")
    assert tokens.prostop_practitioner_token(durand, "00") is None  # outside his session
    with tokens.session(durand_session):
        assert tokens.prostop_practitioner_token(durand, "00") is not None


def test_decline_with_a_reason(console: RunningConsole, browser_client: httpx.Client) -> None:
    record = console.waiting()
    log_in(browser_client, console)
    decide(browser_client, console, record.id, action="decline", reason="QR code utilisé")
    stored = console.runtime.ledger.get(record.id)
    assert stored.state == S.DECLINED and stored.confirmation is not None
    assert stored.confirmation.decline_reason == "QR code utilisé"
    assert "Demande refusée" in browser_client.get(f"{console.url}/demandes/{record.id}").text
    assert "Aucune demande en attente" in browser_client.get(f"{console.url}/demandes").text


def test_requests_addressed_to_me_come_first(
    console: RunningConsole, browser_client: httpx.Client
) -> None:
    durand = console.waiting()  # the HPRIM file names Dr DURAND as recipient
    other = console.waiting(data=other_patient(recipient=b"10009876543 DR BERNARD"))
    assert durand.id != other.id
    page = log_in(browser_client, console, BERNARD)
    assert page.text.index(other.id) < page.text.index(durand.id)
    with httpx.Client(follow_redirects=False, timeout=10.0) as second:
        page = log_in(second, console)
    assert page.text.index(durand.id) < page.text.index(other.id)


def test_history_is_searched_by_name_and_date(
    console: RunningConsole, browser_client: httpx.Client
) -> None:
    record = console.waiting()
    page = log_in(browser_client, console)
    history = browser_client.get(f"{console.url}/historique")
    assert record.id in history.text

    def search(**form: str) -> str:
        return browser_client.post(f"{console.url}/historique",
                                   data={"csrf": csrf_of(page)} | form).text
    assert record.id in search(nom="dupont")
    assert record.id in search(nom="Dupônt", du=record.created_at.date().isoformat())
    assert record.id not in search(nom="MARTIN")
    assert record.id not in search(au="2001-01-01")
