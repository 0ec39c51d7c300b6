"""Simulated PSC authorization code flow: the login page standing in for PSC's (pick a
practitioner, CPS card or e-CPS), the code handed back to the client's ``redirect_uri``, and
its exchange at the token endpoint (client authentication, ``redirect_uri``, PKCE checked) for
an access token and an ID token carrying the ``nonce``.

What the real PSC checks, this checks too, so a client bug shows here first: ``response_type``
``code`` only, a known ``client_id``, ``openid`` in the scope, ``acr_values`` eidas1 when given,
a ``code_challenge_method`` of ``S256`` (``plain`` is refused), one use per code, a minute to
use it, and the same ``redirect_uri`` at both ends.
"""

from __future__ import annotations

import hmac
import time
from html import escape
from urllib.parse import parse_qsl, urlencode, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from prostop_plugin.config import PSC_REALM_PATH
from prostop_plugin.simulator.authcodes import AuthorizationRequest, Grant, s256
from prostop_plugin.simulator.state import SimulatorState

AUTHORIZE_PATH = "/protocol/openid-connect/auth"
METHODS = {"ecps": "e-CPS (application mobile)", "cps": "Carte CPS (lecteur de carte)"}
_AMR = {"ecps": "mobile", "cps": "card"}


def _error_page(title: str, detail: str, status: int = 400) -> HTMLResponse:
    body = (f"<!doctype html><html lang='fr'><meta charset='utf-8'><title>{escape(title)}"
            f"</title><body><h1>{escape(title)}</h1><p>{escape(detail)}</p></body></html>")
    return HTMLResponse(body, status_code=status)


def _back_to_client(redirect_uri: str, **params: str | None) -> RedirectResponse:
    query = urlencode({k: v for k, v in params.items() if v is not None})
    separator = "&" if urlsplit(redirect_uri).query else "?"
    return RedirectResponse(redirect_uri + separator + query, status_code=302)


def _login_page(state: SimulatorState, page_id: str, client_id: str) -> HTMLResponse:
    rows = []
    for index, p in enumerate(state.options.practitioners):
        checked = " checked" if index == 0 else ""
        rows.append(
            f"<li><label><input type='radio' name='practitioner' value='{escape(p.national_id)}'"
            f"{checked}> {escape(p.display())} — RPPS {escape(p.rpps)} "
            f"(profession {escape(p.profession_code)})</label></li>"
        )
    methods = "".join(
        f"<li><label><input type='radio' name='method' value='{key}'"
        f"{' checked' if key == 'ecps' else ''}> {escape(label)}</label></li>"
        for key, label in METHODS.items()
    )
    body = f"""<!doctype html>
<html lang="fr"><head><meta charset="utf-8"><title>Pro Santé Connect (simulateur)</title>
<style>body{{font-family:sans-serif;max-width:40rem;margin:2rem auto;color:#10243e}}
fieldset{{margin:1rem 0}}button{{padding:.5rem 1rem;margin-right:.5rem}}</style></head>
<body><h1>Pro Santé Connect — simulateur</h1>
<p>Cette page tient lieu de la page de connexion de Pro Santé Connect. L'application
<strong>{escape(client_id)}</strong> demande votre identité.</p>
<form method="post" action="{escape(PSC_REALM_PATH + AUTHORIZE_PATH)}">
<input type="hidden" name="page" value="{escape(page_id)}">
<fieldset><legend>Professionnel de santé</legend><ul>{''.join(rows)}</ul></fieldset>
<fieldset><legend>Moyen d'identification</legend><ul>{methods}</ul></fieldset>
<button type="submit" name="answer" value="login">Se connecter</button>
<button type="submit" name="answer" value="cancel">Annuler</button>
</form></body></html>"""
    return HTMLResponse(body, headers={"Cache-Control": "no-store"})


def authorization_router(state: SimulatorState) -> APIRouter:
    router = APIRouter(prefix=PSC_REALM_PATH, tags=["Pro Santé Connect"])
    @router.get(AUTHORIZE_PATH, response_class=HTMLResponse)
    async def authorize(request: Request) -> Response:
        """The authorization endpoint: checks the request, then shows the login page."""
        q = request.query_params
        client_id, redirect_uri = q.get("client_id", ""), q.get("redirect_uri", "")
        if client_id != state.options.client_id:
            return _error_page("Client inconnu", f"client_id {client_id!r} is not registered")
        target = urlsplit(redirect_uri)
        if target.scheme not in ("http", "https") or not target.netloc or target.fragment:
            return _error_page("redirect_uri invalide",
                               "an absolute http(s) redirect_uri without fragment is required")
        client_state = q.get("state")

        def refuse(error: str, description: str) -> Response:
            return _back_to_client(redirect_uri, error=error, error_description=description,
                                   state=client_state)

        if q.get("response_type") != "code":
            return refuse("unsupported_response_type", "only response_type=code")
        if "openid" not in q.get("scope", "").split():
            return refuse("invalid_scope", "scope must include 'openid'")
        acr_values = q.get("acr_values")
        if acr_values is not None and "eidas1" not in acr_values.split():
            return refuse("invalid_request", "acr_values: eidas1")
        challenge, method = q.get("code_challenge"), q.get("code_challenge_method")
        if challenge is not None and method != "S256":
            return refuse("invalid_request", "code_challenge_method must be S256")
        page_id = state.authcodes.open_page(AuthorizationRequest(
            client_id=client_id, redirect_uri=redirect_uri, scope=q.get("scope", ""),
            state=client_state, nonce=q.get("nonce"), code_challenge=challenge,
            created=time.monotonic(),
        ))
        return _login_page(state, page_id, client_id)

    @router.post(AUTHORIZE_PATH)
    async def login(request: Request) -> Response:
        """The login page's answer: back to the client with a code, or with access_denied."""
        form = dict(parse_qsl((await request.body()).decode("utf-8", errors="replace")))
        page = state.authcodes.take_page(str(form.get("page", "")))
        if page is None:
            return _error_page("Page expirée", "this login page is no longer valid: start again")
        practitioner = state.practitioner(str(form.get("practitioner", "")))
        method = str(form.get("method", "ecps"))
        if form.get("answer") != "login" or practitioner is None or method not in METHODS:
            return _back_to_client(page.redirect_uri, error="access_denied",
                                   error_description="the practitioner cancelled",
                                   state=page.state)
        code = state.authcodes.grant(page, practitioner, method)
        return _back_to_client(page.redirect_uri, code=code, state=page.state)

    return router


def _error(error: str, description: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


def exchange_code(state: SimulatorState, form: dict[str, str], issuer: str) -> JSONResponse:
    """``grant_type=authorization_code`` at the token endpoint (client already authenticated)."""
    found = state.authcodes.redeem(form.get("code", ""))
    if found is None or found == "used":
        return _error("invalid_grant", "unknown, expired or already used code")
    assert isinstance(found, Grant)
    asked = found.request
    if form.get("client_id", asked.client_id) != asked.client_id:
        return _error("invalid_grant", "the code was issued to another client")
    if form.get("redirect_uri") != asked.redirect_uri:
        return _error("invalid_grant", "redirect_uri differs from the authorization request's")
    if asked.code_challenge is not None:
        verifier = form.get("code_verifier")
        if not verifier:
            return _error("invalid_grant", "PKCE: code_verifier is missing")
        if not hmac.compare_digest(s256(verifier), asked.code_challenge):
            return _error("invalid_grant", "PKCE: code_verifier does not match code_challenge")
    authority = state.authority
    national_id = found.practitioner.national_id
    access_token = authority.mint(issuer=issuer, client_id=asked.client_id,
                                  national_id=national_id, scope=asked.scope)
    id_token = authority.mint_id_token(
        issuer=issuer, client_id=asked.client_id, national_id=national_id, nonce=asked.nonce,
        access_token=access_token, amr=_AMR[found.method],
    )
    state.tokens_issued += 1
    return JSONResponse(
        {"access_token": access_token, "id_token": id_token, "token_type": "Bearer",
         "expires_in": authority.lifetime, "scope": asked.scope},
        headers={"Cache-Control": "no-store"},
    )
