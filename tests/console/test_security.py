"""The console's security over real HTTP: every route (enumerated from the app) refuses
anonymous use, CSRF on every state-changing request, idle expiry, escaping, headers, TLS."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from starlette.routing import Mount

from prostop_plugin.config import load_settings
from prostop_plugin.console import create_app
from prostop_plugin.console.guard import PUBLIC_PATHS, is_public
from prostop_plugin.errors import ConfigError
from prostop_plugin.models import IssuanceState
from tests.console.conftest import HPRIM, RunningConsole, corpus, csrf_of, log_in

#: what anyone may open, and why: the login pages, static files, the language switch, and
#: CDS Hooks (discovery is public by the spec; every call needs the EHR's signed JWT)
EXPECTED_PUBLIC = {
    "/connexion", "/connexion/psc", "/connexion/retour", "/connexion/ecps",
    "/connexion/attente", "/connexion/attente.json", "/langue/{locale}", "/static",
    "/cds-services", "/cds-services/{service_id}",
}


def walk(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    """Every (method, path) of the app, through included routers (FastAPI keeps those as
    wrappers holding the ``original_router``)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield from ((method, prefix + route.path) for method in sorted(route.methods))
        elif isinstance(route, Mount):
            yield "GET", prefix + route.path
        elif getattr(route, "original_router", None) is not None:
            context = getattr(route, "include_context", None)
            yield from walk(route.original_router.routes,
                            prefix + str(getattr(context, "prefix", "") or ""))
        elif getattr(route, "path", "") not in ("", None):
            raise AssertionError(f"a route of an unknown kind: {route!r}")


def routes(console: RunningConsole) -> list[tuple[str, str]]:
    assert console.service.console is not None
    return list(walk(create_app(console.service.console).routes))


def concrete(path: str, issuance_id: str) -> str:
    return re.sub(r"\{[^}]+\}", issuance_id, path)


def test_every_private_route_refuses_anonymous_use(console: RunningConsole) -> None:
    record = console.waiting()
    found = routes(console)
    public = {path for _, path in found if is_public(path)}
    assert public == EXPECTED_PUBLIC, "a route became public: check guard.PUBLIC_PATHS"
    assert PUBLIC_PATHS  # the guard's own list is what decides
    private = [(m, p) for m, p in found if not is_public(p)]
    assert len(private) >= 12
    with httpx.Client(follow_redirects=False, timeout=10.0) as anonymous:
        for method, path in private:
            answer = anonymous.request(method, console.url + concrete(path, record.id),
                                       data={"action": "approve", "qr_unavailable": "1"}
                                       if method == "POST" else None)
            assert answer.status_code in (303, 401), (method, path, answer.status_code)
            if answer.status_code == 303:
                assert answer.headers["location"].startswith("/connexion?suite=")
            assert "DUPONT" not in answer.text  # nothing of the patient
    assert console.runtime.ledger.get(record.id).state == IssuanceState.AWAITING_CONFIRMATION


@pytest.mark.parametrize("token", [None, "", "forged", "other-session"])
def test_a_post_without_the_sessions_csrf_token_is_refused_and_changes_nothing(
    console: RunningConsole, browser_client: httpx.Client, token: str | None
) -> None:
    record = console.waiting()
    log_in(browser_client, console)
    if token == "other-session":
        with httpx.Client(follow_redirects=False, timeout=10.0) as other:
            token = csrf_of(log_in(other, console))
    form = {"action": "approve", "qr_unavailable": "1"}
    if token is not None:
        form["csrf"] = token
    answer = browser_client.post(f"{console.url}/demandes/{record.id}/decision", data=form)
    assert answer.status_code == 403
    assert "formulaire a expiré" in answer.text
    assert console.runtime.ledger.get(record.id).state == IssuanceState.AWAITING_CONFIRMATION
    logout = browser_client.post(f"{console.url}/deconnexion", data={"csrf": "forged"})
    assert logout.status_code == 403
    assert "DUPONT" in browser_client.get(f"{console.url}/demandes").text  # still logged in


def test_an_idle_session_expires_and_is_audited(
    console: RunningConsole, browser_client: httpx.Client
) -> None:
    log_in(browser_client, console)
    assert console.service.console is not None
    sessions = console.service.console.sessions
    now = sessions.clock()
    sessions.clock = lambda: now + 15 * 60 + 1  # the default idle timeout, and a second
    answer = browser_client.get(f"{console.url}/demandes")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/connexion?suite=/demandes&expire=1"
    assert "session a expiré" in browser_client.get(console.url + answer.headers["location"]).text
    ends = [e for e in console.runtime.audit.entries() if e.action == "console_session_end"]
    assert [(e.actor, e.details["reason"]) for e in ends] == [("810003456789", "idle")]


def test_a_script_in_a_patient_name_is_inert(
    console: RunningConsole, browser_client: httpx.Client
) -> None:
    data = corpus(HPRIM).replace(b"DUPONT", b"<script>alert(1)</script>", 1)
    record = console.waiting(data=data)
    pages = [log_in(browser_client, console),
             browser_client.get(f"{console.url}/demandes/{record.id}"),
             browser_client.get(f"{console.url}/historique")]
    for page in pages:
        assert "<script>alert" not in page.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


def test_no_patient_data_in_urls(console: RunningConsole, browser_client: httpx.Client) -> None:
    record = console.waiting()
    page = log_in(browser_client, console)
    links = re.findall(r'(?:href|action)="([^"]*)"', page.text) + re.findall(
        r'(?:href|action)="([^"]*)"', browser_client.get(
            f"{console.url}/demandes/{record.id}").text)
    patient = record.event.patient
    for link in links:
        for value in (patient.family_name, patient.given_name, patient.ins,
                      patient.host_patient_id):
            assert value and value.lower() not in link.lower(), link


def test_security_headers_on_every_answer(
    console: RunningConsole, browser_client: httpx.Client
) -> None:
    for answer in (browser_client.get(f"{console.url}/connexion"),
                   browser_client.get(f"{console.url}/demandes"),
                   browser_client.get(f"{console.url}/static/console.js")):
        csp = answer.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert answer.headers["x-frame-options"] == "DENY"
        assert answer.headers["referrer-policy"] == "no-referrer"
        assert answer.headers["x-content-type-options"] == "nosniff"
    assert browser_client.get(f"{console.url}/connexion").headers["cache-control"] == "no-store"


def test_a_network_address_without_tls_is_refused_at_start(tmp_path: Path) -> None:
    config = tmp_path / "prostop.toml"
    config.write_text('[console]\nlisten = "0.0.0.0:8710"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as refused:
        load_settings(config)
    assert "without TLS" in refused.value.one_line()
    assert "tls_cert_file" in refused.value.one_line()
    config.write_text('[console]\nlisten = "192.168.1.20:8710"\ntls_cert_file = "c.pem"\n'
                      'tls_key_file = "k.pem"\n', encoding="utf-8")
    settings = load_settings(config)
    assert settings.console.tls_cert_file == tmp_path / "c.pem"  # relative to the file
    assert settings.console.base_url() == "https://192.168.1.20:8710"
