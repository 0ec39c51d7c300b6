"""Logging in to the console with Pro Santé Connect: the authorization code flow (PKCE,
``state``, ``nonce``) and CIBA on the e-CPS app; logging out; the language switch."""

from __future__ import annotations

import logging
import re
import secrets
from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from prostop_plugin.console.guard import (
    LANG_COOKIE,
    LOGIN_COOKIE,
    PRE_COOKIE,
    SESSION_COOKIE,
)
from prostop_plugin.console.identity import (
    CALLBACK_PATH,
    Identity,
    practitioner_from,
    refusal_of,
)
from prostop_plugin.console.sessions import LoginMethod, PendingLogin
from prostop_plugin.console.web import (
    Console,
    console_of,
    locale_of,
    redirect,
    render,
    safe_next,
)
from prostop_plugin.errors import ProstopError, TokenRefused
from prostop_plugin.models import Practitioner
from prostop_plugin.psc import new_binding_message
from prostop_plugin.texts.console import console_text

log = logging.getLogger(__name__)
router = APIRouter()
_RPPS = re.compile(r"^8?(\d{11})$")


def _cookie_options(console: Console, *, same_site: str = "strict") -> dict[str, Any]:
    return {"httponly": True, "samesite": same_site, "secure": console.tls, "path": "/"}


def _client(request: Request) -> str:
    return request.client.host if request.client else "?"


def _too_many(request: Request) -> Response | None:
    if console_of(request).login_limit.allow(_client(request)):
        return None
    console_of(request).audit("anonymous", "console_login_rate_limited",
                              client=_client(request))
    return render(request, "login.html", status_code=429, next="/demandes",
                  error=console_text(locale_of(request), "login.too_many"))


@router.get("/connexion", response_class=HTMLResponse)
def login_page(request: Request, suite: str = "/demandes", expire: str = "",
               sortie: str = "") -> Response:
    locale = locale_of(request)
    notice = console_text(locale, "login.expired") if expire else (
        console_text(locale, "login.logged_out") if sortie else None)
    pre = request.state.cookies.get(PRE_COOKIE)
    if not pre:
        pre = request.state.new_pre = secrets.token_urlsafe(24)
    response = render(request, "login.html", next=safe_next(suite), notice=notice)
    response.set_cookie(PRE_COOKIE, pre, **_cookie_options(console_of(request)))
    return response


# -- the authorization code flow -----------------------------------------------------------------


@router.get("/connexion/psc")
def login_with_psc(request: Request, suite: str = "/demandes") -> Response:
    """To PSC's login page, with a fresh state, nonce and PKCE challenge kept server-side."""
    limited = _too_many(request)
    if limited is not None:
        return limited
    console = console_of(request)
    try:
        asked = console.authcode.start()
    except ProstopError as exc:
        return render(request, "login.html", status_code=502, next=safe_next(suite),
                      error=exc.one_line())
    login = console.sessions.start_login(safe_next(suite))
    login.state, login.nonce, login.code_verifier = asked.state, asked.nonce, asked.code_verifier
    response = redirect(asked.url)
    # Lax, not Strict: it must come back with PSC's (cross-site) redirect to the callback
    response.set_cookie(LOGIN_COOKIE, login.id, max_age=600,
                        **_cookie_options(console, same_site="lax"))
    return response


@router.get(CALLBACK_PATH, response_class=HTMLResponse)
def login_callback(request: Request) -> Response:
    """PSC's redirect: the state checked, the code exchanged, the tokens verified."""
    limited = _too_many(request)
    if limited is not None:
        return limited
    console, locale = console_of(request), locale_of(request)
    login = console.sessions.end_login(request.state.cookies.get(LOGIN_COOKIE))
    if login is None or not login.state:  # no login of this browser (or used already)
        return render(request, "login.html", status_code=400, next="/demandes",
                      error=console_text(locale, "login.again"))
    error = request.query_params.get("error")
    if error is not None:
        console.audit("anonymous", "console_login_failed", method="authorization_code",
                      error=error[:60])
        return render(request, "login.html", status_code=401, next=login.next_url,
                      error=f"{console_text(locale, 'login.failed')} ({error[:60]})")
    try:
        identity = console.authcode.finish(str(request.url), login.state, login.nonce,
                                           login.code_verifier)
    except TokenRefused as exc:
        console.audit("anonymous", "console_login_failed", method="authorization_code",
                      reason=exc.reason, detail=exc.what[:200])
        return render(request, "login.html", status_code=401, next=login.next_url,
                      error=(exc.fr if locale == "fr" else exc.en) or exc.one_line())
    except ProstopError as exc:
        return render(request, "login.html", status_code=502, next=login.next_url,
                      error=exc.one_line())
    return _open_session(request, identity, "authorization_code", login.next_url,
                         via_meta_refresh=True)


def _open_session(request: Request, identity: Identity, method: LoginMethod, next_url: str,
                  *, via_meta_refresh: bool = False) -> Response:
    console, locale = console_of(request), locale_of(request)
    refusal = refusal_of(identity.token, console.settings)
    national_id = identity.practitioner.national_id
    if refusal is not None:
        console.audit(national_id, "console_login_refused", method=method,
                      reason=refusal.reason)
        page = render(request, "refused.html", status_code=403,
                      message=refusal.fr if locale == "fr" else refusal.en)
        page.delete_cookie(LOGIN_COOKIE, path="/")
        return page
    session = console.sessions.open(identity.practitioner, method)
    console.tokens.put(identity.token, session=session.id)
    console.audit(national_id, "console_login", method=method, session=session.id[:8])
    response: Response
    if via_meta_refresh:
        # after a cross-site redirect the browser would not send a SameSite=Strict cookie
        # with a redirect: a same-site navigation from this page does
        response = render(request, "continue.html", next=next_url)
    else:
        response = redirect(next_url)
    response.set_cookie(SESSION_COOKIE, session.id, **_cookie_options(console))
    response.delete_cookie(LOGIN_COOKIE, path="/")
    return response


# -- CIBA: "je valide sur mon application e-CPS" ------------------------------------------------


@router.post("/connexion/ecps")
def login_with_ecps(request: Request, rpps: str = Form(""),
                    suite: str = Form("/demandes")) -> Response:
    limited = _too_many(request)
    if limited is not None:
        return limited
    console, locale = console_of(request), locale_of(request)
    found = _RPPS.match(rpps.strip().replace(" ", ""))
    if found is None:
        return render(request, "login.html", status_code=422, next=safe_next(suite),
                      error=console_text(locale, "login.bad_rpps"), rpps=rpps)
    login = console.sessions.start_login(safe_next(suite))
    login.national_id = "8" + found.group(1)
    login.binding_message = new_binding_message()
    console.submit(lambda: _run_ciba(console, login))
    response = redirect("/connexion/attente")
    response.set_cookie(LOGIN_COOKIE, login.id, max_age=600, **_cookie_options(console))
    return response


def _run_ciba(console: Console, login: PendingLogin) -> None:
    practitioner = Practitioner(national_id=login.national_id)
    try:
        token = console.ciba.token_for(practitioner, login.binding_message, cancel=login.cancel)
    except TokenRefused as exc:
        login.status, login.message = "refused", f"{exc.fr}\n{exc.en}"
        console.audit(login.national_id, "console_login_refused", method="ciba",
                      reason=exc.reason)
        return
    except ProstopError as exc:
        login.status, login.message = "failed", exc.one_line()
        console.audit(login.national_id, "console_login_failed", method="ciba",
                      detail=exc.what[:200])
        return
    except Exception as exc:  # shown to the physician, never a dead spinner
        log.exception("console: CIBA login failed")
        login.status, login.message = "failed", f"{type(exc).__name__}: {exc}"
        return
    names = console.authcode.practitioner_of(token)
    login.identity = Identity(token, practitioner_from(
        token, console.settings.eligibility.allowed_professions,
        {"family_name": names.family_name, "given_name": names.given_name}))
    login.status = "done"


@router.get("/connexion/attente", response_class=HTMLResponse)
def login_wait(request: Request) -> Response:
    console = console_of(request)
    login = console.sessions.login(request.state.cookies.get(LOGIN_COOKIE))
    if login is None or not login.national_id:
        return redirect("/connexion")
    if login.status == "done" and login.identity is not None:
        console.sessions.end_login(login.id)
        return _open_session(request, login.identity, "ciba", login.next_url)
    message = login.message
    if login.status == "refused":
        fr, _, en = message.partition("\n")
        message = fr if locale_of(request) == "fr" else en
    return render(request, "login_wait.html", login=login, message=message)


@router.get("/connexion/attente.json")
def login_status(request: Request) -> JSONResponse:
    login = console_of(request).sessions.login(request.state.cookies.get(LOGIN_COOKIE))
    return JSONResponse({"status": login.status if login else "unknown"})


# -- logout, language ----------------------------------------------------------------------------


@router.post("/deconnexion")
def logout(request: Request) -> Response:
    console_of(request).sessions.close(request.cookies.get(SESSION_COOKIE))
    response = redirect("/connexion?sortie=1")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/langue/{locale}")
def switch_language(request: Request, locale: str, suite: str = "/demandes") -> Response:
    response = redirect(safe_next(suite))
    response.set_cookie(LANG_COOKIE, "en" if locale == "en" else "fr",
                        **_cookie_options(console_of(request)))
    return response
