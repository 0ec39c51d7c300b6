"""The simulated PSC's authorization code flow over loopback: the login page, the code, its
exchange (client, redirect_uri, PKCE S256), the ID token's nonce, userinfo's acr."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest

from prostop_plugin.simulator import RunningSimulator

REDIRECT = "http://127.0.0.1:9/connexion/retour"
CLAIRE = "810003456789"


def challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(
        b"=").decode()


def authorize(sim: RunningSimulator, client: httpx.Client, **overrides: str) -> httpx.Response:
    params = {"response_type": "code", "client_id": "prostop-plugin", "redirect_uri": REDIRECT,
              "scope": "openid scope_all", "acr_values": "eidas1", "state": "st-1",
              "nonce": "n-1", "code_challenge_method": "S256"} | overrides
    return client.get(sim.psc_issuer + "/protocol/openid-connect/auth", params=params)


def log_in(sim: RunningSimulator, client: httpx.Client, verifier: str | None,
           who: str = CLAIRE, **overrides: str) -> dict[str, list[str]]:
    """The login page, then the answer: the query the client's redirect_uri receives."""
    if verifier is not None:
        overrides.setdefault("code_challenge", challenge(verifier))
    page = authorize(sim, client, **overrides)
    assert page.status_code == 200, page.text
    assert "Pro Santé Connect" in page.text
    page_id = re.search(r'name="page" value="([^"]+)"', page.text)
    assert page_id is not None
    answer = client.post(sim.psc_issuer + "/protocol/openid-connect/auth", data={
        "page": page_id.group(1), "practitioner": who, "method": "ecps", "answer": "login"})
    assert answer.status_code == 302
    location = answer.headers["location"]
    assert location.startswith(REDIRECT + "?")
    return parse_qs(urlsplit(location).query)


def exchange(sim: RunningSimulator, client: httpx.Client, code: str,
             **fields: str) -> httpx.Response:
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT} | fields
    return client.post(sim.psc_issuer + "/protocol/openid-connect/token", data=form,
                       auth=("prostop-plugin", "simulator-secret"))


@pytest.fixture
def client() -> Any:
    with httpx.Client(follow_redirects=False, timeout=5.0) as c:
        yield c


def test_code_exchanged_for_tokens_with_nonce_and_pkce(
    simulator: RunningSimulator, client: httpx.Client
) -> None:
    verifier = secrets.token_urlsafe(48)
    query = log_in(simulator, client, verifier)
    assert query["state"] == ["st-1"]
    answer = exchange(simulator, client, query["code"][0], code_verifier=verifier)
    assert answer.status_code == 200, answer.text
    tokens = answer.json()
    claims = jwt.decode(tokens["id_token"], options={"verify_signature": False})
    assert claims["nonce"] == "n-1"
    assert claims["acr"] == "eidas1" and claims["SubjectNameID"] == CLAIRE
    assert claims["aud"] == "prostop-plugin"
    info = client.get(simulator.psc_issuer + "/protocol/openid-connect/userinfo",
                      headers={"Authorization": f"Bearer {tokens['access_token']}"}).json()
    assert info["acr"] == "eidas1" and info["SubjectNameID"] == CLAIRE
    assert info["SubjectRefPro"]["exercices"][0]["codeProfession"] == "10"


@pytest.mark.parametrize("fields", [{}, {"code_verifier": "x" * 50}])
def test_pkce_missing_or_wrong_verifier_refused(
    simulator: RunningSimulator, client: httpx.Client, fields: dict[str, str]
) -> None:
    query = log_in(simulator, client, secrets.token_urlsafe(48))
    answer = exchange(simulator, client, query["code"][0], **fields)
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_grant"
    assert "PKCE" in answer.json()["error_description"]


def test_a_code_serves_once_and_only_at_its_redirect_uri(
    simulator: RunningSimulator, client: httpx.Client
) -> None:
    verifier = secrets.token_urlsafe(48)
    code = log_in(simulator, client, verifier)["code"][0]
    elsewhere = exchange(simulator, client, code, code_verifier=verifier,
                         redirect_uri="http://127.0.0.1:9/ailleurs")
    assert elsewhere.status_code == 400
    assert exchange(simulator, client, code, code_verifier=verifier).status_code == 400  # used
    again = log_in(simulator, client, verifier)["code"][0]
    assert exchange(simulator, client, again, code_verifier=verifier).status_code == 200
    assert exchange(simulator, client, again, code_verifier=verifier).status_code == 400


def test_plain_pkce_and_bad_requests_go_back_with_an_error(
    simulator: RunningSimulator, client: httpx.Client
) -> None:
    plain = authorize(simulator, client, code_challenge="abc", code_challenge_method="plain")
    assert plain.status_code == 302
    assert parse_qs(urlsplit(plain.headers["location"]).query)["error"] == ["invalid_request"]
    token = authorize(simulator, client, response_type="token")
    assert "unsupported_response_type" in token.headers["location"]
    stranger = authorize(simulator, client, client_id="someone-else")
    assert stranger.status_code == 400  # never redirected to an unregistered client


def test_cancel_returns_access_denied(simulator: RunningSimulator, client: httpx.Client) -> None:
    page = authorize(simulator, client)
    page_id = re.search(r'name="page" value="([^"]+)"', page.text)
    assert page_id is not None
    answer = client.post(simulator.psc_issuer + "/protocol/openid-connect/auth",
                         data={"page": page_id.group(1), "answer": "cancel"})
    query = parse_qs(urlsplit(answer.headers["location"]).query)
    assert query["error"] == ["access_denied"] and query["state"] == ["st-1"]
