"""Logging in to the console over real HTTP: PSC's authorization code flow (PKCE, state,
nonce checked, tampering refused), CIBA, who may act, redirects kept local, rate limit."""

from __future__ import annotations

import re
import time
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx
import pytest

from prostop_plugin.simulator import RunningSimulator
from tests.console.conftest import (
    BERNARD,
    DURAND,
    LEROY_PHARMACIST,
    PETIT_NURSE,
    RunningConsole,
    answer_psc,
    csrf_of,
    follow,
    log_in,
    psc_login_page,
    started_console,
)


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()} | changes
    return urlunsplit(parts._replace(query=urlencode(query)))


def audited(console: RunningConsole, action: str) -> list[dict[str, object]]:
    return [{"actor": e.actor, **e.details} for e in console.runtime.audit.entries()
            if e.action == action]


def test_login_by_authorization_code_opens_a_server_side_session(
    console: RunningConsole, browser_client: httpx.Client
) -> None:
    page = log_in(browser_client, console)
    assert page.status_code == 200 and "Dr Claire DURAND" in page.text
    cookies = {c.name: c for c in browser_client.cookies.jar}
    session = cookies["prostop_console"]
    assert session.has_nonstandard_attr("HttpOnly")
    assert session.get_nonstandard_attr("SameSite", "").lower() == "strict"
    assert len(session.value or "") >= 40  # a random id; who and when stay on the server
    assert "prostop_login" not in cookies  # the login's state/nonce/verifier are used up
    assert audited(console, "console_login") == [
        {"actor": DURAND, "method": "authorization_code",
         "session": (session.value or "")[:8]}]


def test_the_authorization_request_carries_pkce_state_nonce_and_eidas1(
    console: RunningConsole, browser_client: httpx.Client
) -> None:
    started = browser_client.get(f"{console.url}/connexion/psc")
    query = parse_qs(urlsplit(started.headers["location"]).query)
    assert query["response_type"] == ["code"] and query["code_challenge_method"] == ["S256"]
    assert query["acr_values"] == ["eidas1"] and "openid" in query["scope"][0].split()
    assert len(query["state"][0]) >= 32 and len(query["nonce"][0]) >= 32
    assert len(query["code_challenge"][0]) == 43  # base64url(SHA-256), not the verifier
    again = parse_qs(urlsplit(browser_client.get(
        f"{console.url}/connexion/psc").headers["location"]).query)
    assert again["state"] != query["state"] and again["nonce"] != query["nonce"]


@pytest.mark.parametrize("tamper", ["state", "nonce", "code_challenge"])
def test_a_tampered_state_nonce_or_pkce_challenge_is_refused(
    console: RunningConsole, browser_client: httpx.Client, tamper: str
) -> None:
    started = browser_client.get(f"{console.url}/connexion/psc")
    psc_url = started.headers["location"]
    if tamper in ("nonce", "code_challenge"):  # what PSC was asked differs from what we kept
        psc_url = with_query(psc_url, **{tamper: "A" * 43})
    page = browser_client.get(psc_url)
    callback = answer_psc(browser_client, console, page, DURAND)
    if tamper == "state":  # what comes back differs from what we sent
        callback = with_query(callback, state="forged-state")
    landed = browser_client.get(callback)
    assert landed.status_code == 401
    assert "prostop_console" not in {c.name for c in browser_client.cookies.jar}
    assert follow(browser_client, browser_client.get(f"{console.url}/demandes")).url.path \
        == "/connexion"
    assert audited(console, "console_login") == []
    [failed] = audited(console, "console_login_failed")
    assert failed["actor"] == "anonymous"


def test_a_callback_serves_once(console: RunningConsole, browser_client: httpx.Client) -> None:
    callback = answer_psc(browser_client, console, psc_login_page(browser_client, console),
                          DURAND)
    assert browser_client.get(callback).status_code == 200
    browser_client.cookies.clear()
    replayed = browser_client.get(callback)
    assert replayed.status_code == 400
    assert "prostop_console" not in {c.name for c in browser_client.cookies.jar}


@pytest.mark.parametrize("who", [LEROY_PHARMACIST])
def test_a_profession_not_allowed_is_refused_and_audited(
    console: RunningConsole, browser_client: httpx.Client, who: str
) -> None:
    callback = answer_psc(browser_client, console, psc_login_page(browser_client, console), who)
    refused = browser_client.get(callback)
    assert refused.status_code == 403
    assert "pharmacien" in refused.text and "Accès refusé" in refused.text
    assert "prostop_console" not in {c.name for c in browser_client.cookies.jar}
    assert audited(console, "console_login_refused") == [
        {"actor": who, "method": "authorization_code", "reason": "profession"}]


def test_the_practice_list_limits_who_may_log_in(
    tmp_path: Path, simulator: RunningSimulator, browser_client: httpx.Client
) -> None:
    with started_console(tmp_path, simulator, practitioners=["10003456789"]) as console:
        callback = answer_psc(browser_client, console,
                              psc_login_page(browser_client, console), BERNARD)
        refused = browser_client.get(callback)
        assert refused.status_code == 403 and "liste des praticiens" in refused.text
        assert "Dr Claire DURAND" in log_in(browser_client, console).text
        # a nurse is an allowed profession, but not in this practice's list
        callback = answer_psc(browser_client, console,
                              psc_login_page(browser_client, console), PETIT_NURSE)
        assert browser_client.get(callback).status_code == 403


def test_login_by_ciba_on_the_ecps_app(
    console: RunningConsole, browser_client: httpx.Client
) -> None:
    page = browser_client.get(f"{console.url}/connexion")
    sent = browser_client.post(f"{console.url}/connexion/ecps", data={
        "csrf": csrf_of(page), "rpps": BERNARD[1:], "suite": "/historique"})
    assert sent.status_code == 303 and sent.headers["location"] == "/connexion/attente"
    deadline = time.monotonic() + 10
    while True:
        wait = browser_client.get(f"{console.url}/connexion/attente")
        if wait.status_code == 303:
            break
        assert re.search(r'data-testid="binding"[^>]*>\d\d<', wait.text)
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert wait.headers["location"] == "/historique"
    assert "Dr Paul BERNARD" in browser_client.get(f"{console.url}/historique").text
    [ciba] = [r for r in console.simulator.logged_requests() if r["path"].endswith("/ciba/auth")]
    assert f"login_hint={BERNARD}" in str(ciba["body"])


def test_the_ecps_login_form_needs_its_csrf_token(
    console: RunningConsole, browser_client: httpx.Client
) -> None:
    browser_client.get(f"{console.url}/connexion")
    refused = browser_client.post(f"{console.url}/connexion/ecps", data={"rpps": BERNARD[1:]})
    assert refused.status_code == 403
    assert not [r for r in console.simulator.logged_requests() if "ciba" in r["path"]]


@pytest.mark.parametrize("target", ["https://evil.example/x", "//evil.example/x",
                                    "/\\evil.example", "javascript:alert(1)"])
def test_redirects_after_login_stay_in_the_console(
    console: RunningConsole, browser_client: httpx.Client, target: str
) -> None:
    started = browser_client.get(f"{console.url}/connexion/psc", params={"suite": target})
    callback = answer_psc(browser_client, console, browser_client.get(
        started.headers["location"]), DURAND)
    landed = browser_client.get(callback)
    assert 'content="0;url=/demandes"' in landed.text
    language = browser_client.get(f"{console.url}/langue/en", params={"suite": target})
    assert language.headers["location"] == "/demandes"


def test_login_attempts_are_rate_limited(
    tmp_path: Path, simulator: RunningSimulator, browser_client: httpx.Client
) -> None:
    with started_console(tmp_path, simulator, login_attempts_per_minute=3) as console:
        answers = [browser_client.get(f"{console.url}/connexion/psc").status_code
                   for _ in range(4)]
        assert answers == [303, 303, 303, 429]
        assert audited(console, "console_login_rate_limited")
