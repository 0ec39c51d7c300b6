"""A PSC token belongs to the login that obtained it: two browsers (two HTTP clients, each with
its own cookies) against the demo EHR, the simulated e-CPS app answered by hand.

- browser B choosing a physician who just logged in on browser A must approve on the phone
  again (it used to be logged in on A's cached token, without approval);
- an abandoned login does not hold up the next one: the new one is sent to the phone at once
  and the old one is cancelled (it used to block that physician's logins until it timed out).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from prostop_plugin.models import IssuanceState
from prostop_plugin.simulator import Approval, RunningSimulator
from tests.adapters.demo_ehr.conftest import RunningEhr, lab_request, started_ehr
from tests.fixtures.simulator import psc_settings

DURAND, BERNARD = "810003456789", "810009876543"
#: generous bound for a step that takes milliseconds; far below the EHR's ciba_timeout (120 s),
#: so a login stuck behind another one fails here instead of succeeding late
BOUND = 20.0


@pytest.fixture(scope="module")
def ehr(tmp_path_factory: pytest.TempPathFactory,
        ehr_simulator: RunningSimulator) -> Iterator[RunningEhr]:
    """An EHR of its own (its patients untouched by other tests), waiting up to 120 s."""
    folder: Path = tmp_path_factory.mktemp("demo-ehr-sessions")
    with started_ehr(folder, ehr_simulator,
                     psc=psc_settings(ehr_simulator, ciba_timeout=120.0)) as running:
        yield running


@pytest.fixture
def by_hand(ehr: RunningEhr) -> Iterator[None]:
    """Both physicians answer on their (simulated) phone by hand only."""
    approvals = ehr.simulator.state.options.approvals
    approvals[DURAND] = approvals[BERNARD] = Approval(mode="never")
    yield
    approvals.pop(DURAND, None)
    approvals.pop(BERNARD, None)


@pytest.fixture
def browsers(ehr: RunningEhr) -> Iterator[Callable[[], httpx.Client]]:
    opened: list[httpx.Client] = []

    def new() -> httpx.Client:
        client = httpx.Client(base_url=ehr.url, timeout=10, trust_env=False)
        opened.append(client)
        return client

    yield new
    for client in opened:
        log_out(client)
        client.close()


def csrf_of(browser: httpx.Client, page: str = "/patients") -> str:
    """The token a page's forms carry for this browser (its cookies), as a browser sends it."""
    found = re.search(r'name="csrf" value="([^"]+)"', browser.get(page).text)
    assert found is not None, f"no CSRF token on {page}"
    return found.group(1)


def log_out(browser: httpx.Client) -> None:
    page = "/patients" if logged_in(browser) else "/login"
    browser.post("/logout", data={"csrf": csrf_of(browser, page)})


def wait_until(condition: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + BOUND
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def start_login(browser: httpx.Client, national_id: str) -> None:
    answer = browser.post("/login", data={"practitioner": national_id, "next": "/patients",
                                          "csrf": csrf_of(browser, "/login")})
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login/wait")


def login_status(browser: httpx.Client) -> str:
    return str(browser.get("/login/wait/status.json").json()["status"])


def pending(ehr: RunningEhr, national_id: str) -> list[str]:
    """auth_req_ids waiting on the physician's phone."""
    return [str(r["auth_req_id"]) for r in ehr.simulator.state.ciba.listing()
            if r["national_id"] == national_id and r["status"] == "pending"]


def approve_on_phone(ehr: RunningEhr, auth_req_id: str) -> None:
    answer = httpx.post(f"{ehr.simulator.base_url}/_simulator/ciba/{auth_req_id}/approve")
    assert answer.status_code == 200


def finish_login(browser: httpx.Client) -> None:
    assert wait_until(lambda: login_status(browser) == "done")
    assert browser.get("/login/wait").status_code == 303  # sets the session cookie
    assert browser.get("/patients").status_code == 200


def logged_in(browser: httpx.Client) -> bool:
    return browser.get("/patients").status_code == 200


def test_a_second_browser_needs_its_own_approval(
    ehr: RunningEhr, by_hand: None, browsers: Callable[[], httpx.Client]
) -> None:
    a, b = browsers(), browsers()
    start_login(a, BERNARD)
    assert wait_until(lambda: len(pending(ehr, BERNARD)) == 1)
    (first,) = pending(ehr, BERNARD)
    approve_on_phone(ehr, first)
    finish_login(a)

    start_login(b, BERNARD)  # Dr BERNARD chosen in another browser, a moment later
    assert wait_until(lambda: login_status(b) != "waiting" or len(pending(ehr, BERNARD)) == 1)
    assert login_status(b) == "waiting", "logged in without approving on the e-CPS app"
    assert not logged_in(b)
    (second,) = pending(ehr, BERNARD)
    assert second != first
    assert second in b.get("/login/wait").text  # its wait page offers its own request
    approve_on_phone(ehr, second)
    finish_login(b)
    log_out(a)
    assert not logged_in(a) and logged_in(b)  # two sessions, each with its own login


def test_an_abandoned_login_does_not_hold_up_the_next(
    ehr: RunningEhr, by_hand: None, browsers: Callable[[], httpx.Client]
) -> None:
    abandoned, again = browsers(), browsers()
    start_login(abandoned, DURAND)
    assert wait_until(lambda: len(pending(ehr, DURAND)) == 1)
    (old,) = pending(ehr, DURAND)

    start_login(again, DURAND)  # the tab was closed; the physician logs in again
    assert wait_until(lambda: any(r != old for r in pending(ehr, DURAND))), \
        "the new login was not sent to the phone while the abandoned one waits"
    (new,) = [r for r in pending(ehr, DURAND) if r != old]
    page = again.get("/login/wait").text
    assert new in page and old not in page  # the phone panel offers this login's request only
    approve_on_phone(ehr, new)
    finish_login(again)
    assert wait_until(lambda: login_status(abandoned) == "failed")  # superseded, not waiting
    approve_on_phone(ehr, old)  # a late tap on the old request logs nobody in
    assert login_status(abandoned) == "failed" and not logged_in(abandoned)


def test_a_decision_uses_the_token_of_the_session_that_made_it(
    ehr: RunningEhr, by_hand: None, browsers: Callable[[], httpx.Client]
) -> None:
    """Within its login's token life, a code needs no second approval (the session's own
    token), and nothing else asks the phone."""
    a = browsers()
    start_login(a, BERNARD)
    assert wait_until(lambda: len(pending(ehr, BERNARD)) == 1)
    approve_on_phone(ehr, pending(ehr, BERNARD)[0])
    finish_login(a)
    asked_before = len([r for r in ehr.simulator.state.ciba.listing()
                        if r["national_id"] == BERNARD])

    record = lab_request(ehr, "DOS-5120")
    answer = a.post(f"/issuances/{record.id}/decide",
                    data={"action": "approve", "qr_unavailable": "on", "back": "/pending",
                          "csrf": csrf_of(a)})
    assert answer.status_code == 303
    settled = (IssuanceState.WRITTEN_BACK, IssuanceState.WRITE_BACK_FAILED,
               IssuanceState.ISSUE_FAILED)
    assert wait_until(lambda: ehr.runtime.ledger.get(record.id).state in settled)
    assert ehr.runtime.ledger.get(record.id).state == IssuanceState.WRITTEN_BACK
    assert len([r for r in ehr.simulator.state.ciba.listing()
                if r["national_id"] == BERNARD]) == asked_before
