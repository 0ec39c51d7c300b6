"""The console's gate, as one ASGI middleware in front of every route: security headers on
every answer, a session for every route but the few public ones, and a CSRF token on every
state-changing request.

Being one middleware rather than a dependency each route declares, a route added later is
protected without anyone remembering to: only :data:`PUBLIC_PATHS` are open, only the CDS Hooks
calls (:data:`CSRF_EXEMPT`, authenticated by the EHR's signed JWT, no cookie) skip the CSRF
check.

CSRF: the token is the session's (server-side, random); before login (the e-CPS login form) it
is an HMAC of a random pre-login cookie. A POST without the right ``csrf`` form field is
refused with 403 before the route runs: nothing changes. The check itself is the screens'
(:class:`~prostop_plugin.screens.csrf.CsrfCheck`), which the demo EHR's forms use too.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from prostop_plugin.console.sessions import Session, SessionStore
from prostop_plugin.screens.csrf import (
    SAFE_METHODS,
    CsrfCheck,
    Refuse,
    answer,
    cookies_of,
    keyed_token,
)

SESSION_COOKIE = "prostop_console"
LOGIN_COOKIE = "prostop_login"
PRE_COOKIE = "prostop_pre"
LANG_COOKIE = "prostop_lang"
#: paths anyone may open: the login pages, static files, the language switch, CDS discovery
PUBLIC_PATHS = ("/connexion", "/static/", "/langue/", "/cds-services")
#: JSON API authenticated by a bearer JWT, not by cookies: no CSRF token (and no session)
CSRF_EXEMPT = ("/cds-services/",)
MAX_FORM_BYTES = 64 * 1024


def is_public(path: str) -> bool:
    bases = (p.rstrip("/") for p in PUBLIC_PATHS)
    return any(path == base or path.startswith(base + "/") for base in bases)


def security_headers(*, tls: bool, static: bool) -> list[tuple[bytes, bytes]]:
    """CSP without inline script or style, no framing, no referrer, no caching of pages."""
    csp = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
           "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
           "base-uri 'none'")
    headers = [
        (b"content-security-policy", csp.encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"no-referrer"),
        (b"cross-origin-opener-policy", b"same-origin"),
        (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
    ]
    if not static:
        headers.append((b"cache-control", b"no-store"))
    if tls:
        headers.append((b"strict-transport-security", b"max-age=31536000"))
    return headers


def pre_login_token(secret: bytes, pre_cookie: str) -> str:
    return keyed_token(secret, "csrf", pre_cookie)


class ConsoleGuard:
    """See the module. ``refuse(scope, status, what)`` renders refusals (HTML or JSON)."""

    def __init__(self, app: ASGIApp, *, sessions: SessionStore, secret: bytes, tls: bool,
                 refuse: Refuse) -> None:
        self.app = app
        self.sessions = sessions
        self.secret = secret
        self.tls = tls
        self.refuse = refuse
        self.csrf = CsrfCheck(MAX_FORM_BYTES)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        extra = security_headers(tls=self.tls, static=path.startswith("/static/"))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [
                    h for h in extra if h[0] not in present]
            await send(message)

        cookies = cookies_of(scope)
        session, ended = self.sessions.get(cookies.get(SESSION_COOKIE))
        state: dict[str, Any] = scope.setdefault("state", {})
        state["session"] = session
        state["cookies"] = cookies
        if session is None and not is_public(path):
            await self._to_login(scope, send_with_headers, ended)
            return
        method = scope["method"]
        if method not in SAFE_METHODS and not path.startswith(CSRF_EXEMPT):
            receive, refused = await self.csrf.check(scope, receive,
                                                     self._expected(session, cookies))
            if refused:
                status = 413 if refused == "too_big" else 403
                await answer(send_with_headers, *await self.refuse(scope, status, refused))
                return
        await self.app(scope, receive, send_with_headers)

    def _expected(self, session: Session | None, cookies: dict[str, str]) -> str | None:
        """The session's own token; before login, the one of this browser's pre cookie."""
        if session is not None:
            return session.csrf
        pre = cookies.get(PRE_COOKIE, "")
        return pre_login_token(self.secret, pre) if pre else None

    async def _to_login(self, scope: Scope, send: Send, ended: str) -> None:
        path: str = scope["path"]
        if path.endswith(".json") or scope["method"] not in SAFE_METHODS:
            await answer(send, *await self.refuse(scope, 401, "login"))
            return
        target = "/connexion?suite=" + quote(path, safe="/")
        if ended:
            target += "&expire=1"
        await answer(send, 303, [(b"location", target.encode())], b"")
