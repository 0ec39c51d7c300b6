"""A code past its validity, in the console: the shared code card asks the physician to attest
that the patient did not enter it; without that answer nothing is issued, with it a new request
for the same episode opens (it used to fail with a server error: the console never passed the
attestation the engine requires)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx

from prostop_plugin.models import IssuanceRecord, IssuanceState
from tests.console.conftest import RunningConsole, csrf_of, log_in
from tests.console.test_flow import decide, wait_for

S = IssuanceState


def expired(console: RunningConsole, client: httpx.Client) -> IssuanceRecord:
    """A code confirmed in the console, then past its validity."""
    record = console.waiting()
    decide(client, console, record.id, action="approve", qr_unavailable="1")
    wait_for(lambda: console.runtime.ledger.get(record.id).state == S.WRITTEN_BACK)
    ledger = console.runtime.ledger
    stored = ledger.get(record.id, with_code=True)
    stored.valid_until = datetime.now(UTC) - timedelta(minutes=1)
    with ledger.transaction() as conn:
        ledger.save(conn, stored, expect=S.WRITTEN_BACK, actor="test", now=datetime.now(UTC))
    return stored


def test_a_new_code_needs_the_attestation_that_the_expired_one_was_not_entered(
    console: RunningConsole, browser_client: httpx.Client
) -> None:
    log_in(browser_client, console)
    old = expired(console, browser_client)
    page = browser_client.get(f"{console.url}/demandes/{old.id}")
    assert page.status_code == 200 and 'name="attest_unused"' in page.text
    assert "Validité dépassée" in page.text
    known = len(console.runtime.ledger.summaries())
    url = f"{console.url}/demandes/{old.id}/nouveau-code"

    refused = browser_client.post(url, data={"csrf": csrf_of(page)})
    assert refused.status_code == 303 and refused.headers["location"] == f"/demandes/{old.id}"
    assert len(console.runtime.ledger.summaries()) == known  # nothing issued

    again = browser_client.post(url, data={"csrf": csrf_of(page), "attest_unused": "on"})
    assert again.status_code == 303
    found = re.fullmatch(r"/demandes/([0-9a-f]+)", again.headers["location"])
    assert found is not None and found.group(1) != old.id
    new = console.runtime.ledger.get(found.group(1))
    assert new.replaces == old.id and new.state == S.AWAITING_CONFIRMATION
    actions = [e.action for e in console.runtime.audit.entries()]
    assert "console_reissue_refused" in actions and "console_reissue" in actions
