"""What every page shares: templates (its own, and the screens it shares with the console),
language, the logged-in physician, the forms' CSRF token, safe redirects."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.types import Scope

from prostop_demo_ehr.catalog import ui_text
from prostop_demo_ehr.host import DemoEhr
from prostop_demo_ehr.views import source_label
from prostop_plugin import (
    Locale,
    Practitioner,
    ScreenPaths,
    csrf_token_of,
    screen_environment,
)

PACKAGE_DIR = Path(__file__).parent
SESSION_COOKIE = "ehr_session"
LANG_COOKIE = "ehr_lang"
LOGIN_NONCE_COOKIE = "ehr_login"
#: the pre-login cookie of the forms' CSRF tokens (set by the guard, see web.create_app)
PRE_COOKIE = "ehr_pre"

#: the EHR's routes for an issuance, as the shared screens link to them; its pages open a
#: request's dialog with ``?dialog=ID``
PATHS = ScreenPaths(
    decide="/issuances/{id}/decide", retry="/issuances/{id}/retry",
    reissue="/issuances/{id}/reissue", state="/issuances/{id}/state.json",
    handout="/issuances/{id}/handout", handout_pdf="/issuances/{id}/handout.pdf",
    review="{back}?dialog={id}", card_heading=3,
)
templates = screen_environment(PACKAGE_DIR / "templates", PATHS)


class LoginRequired(Exception):
    """Raised by :func:`practitioner_of`; answered with a redirect to the login page."""

    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


def ehr_of(request: Request) -> DemoEhr:
    ehr: DemoEhr = request.app.state.ehr
    return ehr


def locale_of(request: Request) -> Locale:
    return "en" if request.cookies.get(LANG_COOKIE) == "en" else "fr"


def practitioner_of(request: Request) -> Practitioner:
    """The physician logged in with PSC on this browser, or a redirect to the login page."""
    found = ehr_of(request).login.practitioner(request.cookies.get(SESSION_COOKIE))
    if found is None:
        raise LoginRequired(str(request.url.path))
    return found


def session_of(request: Request) -> str | None:
    """This browser's login session (the key of its PSC token), if any."""
    return request.cookies.get(SESSION_COOKIE) or None


def safe_next(target: str | None, default: str = "/patients") -> str:
    """Only local paths: never redirect to another site."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return default


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def render(request: Request, template: str, status_code: int = 200,
           **context: Any) -> HTMLResponse:
    ehr = ehr_of(request)
    locale = locale_of(request)
    practitioner = ehr.login.practitioner(request.cookies.get(SESSION_COOKIE))
    base: dict[str, Any] = {
        "locale": locale,
        "t": lambda key, **values: ui_text(locale, key, **values),
        "practitioner": practitioner,
        "here": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
        "path": request.url.path,
        "simulator_controls": ehr.simulator_controls,
        "pending_count": len(ehr.runtime.engine.pending()) if practitioner else 0,
        "announced": ehr.announced() if practitioner else [],
        "source_of": lambda record: source_label(record, locale),
        "csrf": csrf_token_of(request),
    }
    html = templates.get_template(template).render(**(base | context))
    return HTMLResponse(html, status_code=status_code)


async def refuse(scope: Scope, status: int, why: str) -> tuple[
        int, list[tuple[bytes, bytes]], bytes]:
    """The CSRF guard's refusal, as an error page of the EHR (``why``: csrf, too_big)."""
    cookies = scope.get("state", {}).get("cookies", {})
    locale: Locale = "en" if cookies.get(LANG_COOKIE) == "en" else "fr"
    html = templates.get_template("error.html").render(
        locale=locale, t=lambda key, **values: ui_text(locale, key, **values),
        message=ui_text(locale, "error.csrf" if why == "csrf" else "error.too_big"),
        practitioner=None, here="/patients", path="", announced=[], pending_count=0,
        csrf="",
    )
    return status, [(b"content-type", b"text/html; charset=utf-8")], html.encode()
