"""The console's application: the running :class:`Console` (sessions, logins, the session's
PSC tokens, background work) and the FastAPI app that serves it.

The routes are in :mod:`.routes_login` (Pro Santé Connect), :mod:`.routes_requests` (pending
requests, dialog, code, handout, history) and :mod:`.cds` (CDS Hooks); the gate in front of
them all in :mod:`.guard`.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.types import Scope

from prostop_plugin.console.guard import (
    LANG_COOKIE,
    PRE_COOKIE,
    ConsoleGuard,
    pre_login_token,
)
from prostop_plugin.console.identity import CALLBACK_PATH, AuthorizationCodeLogin
from prostop_plugin.console.patient_links import PatientLinks
from prostop_plugin.console.sessions import RateLimiter, Session, SessionStore
from prostop_plugin.errors import ProstopError
from prostop_plugin.models import Locale
from prostop_plugin.psc import CibaTokenSource, HostTokenStore
from prostop_plugin.screens import (
    Refusals,
    ScreenPaths,
    screen_environment,
    screen_static_files,
)
from prostop_plugin.texts.console import console_text

if TYPE_CHECKING:
    from prostop_plugin.app import Prostop

log = logging.getLogger(__name__)
PACKAGE_DIR = Path(__file__).parent
TOKENS_PLUGIN = "prostop.console.tokens"

#: the console's routes for a request, as the shared screens link to them
PATHS = ScreenPaths(
    decide="/demandes/{id}/decision", retry="/demandes/{id}/reessayer",
    reissue="/demandes/{id}/nouveau-code", state="/demandes/{id}/etat.json",
    handout="/demandes/{id}/fiche", handout_pdf="/demandes/{id}/fiche.pdf",
    card_heading=2, write_pending=True,
)
templates = screen_environment(PACKAGE_DIR / "templates", PATHS)


class Console:
    """What the console's routes share. One per ``prostop serve``; :meth:`close` it.

    :param base_url: where browsers reach the console (links, PSC's redirect_uri); default
        ``[console]``'s :meth:`~prostop_plugin.config.ConsoleSettings.base_url`.
    """

    def __init__(self, runtime: Prostop, *, base_url: str | None = None) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        config = self.settings.console
        found = base_url or config.base_url()
        if found is None:
            raise ProstopError("the console has no address", where="[console]",
                               fix="set [console] listen (and public_url when browsers reach "
                               "it by another name)")
        self.base_url = found.rstrip("/")
        self.tls = self.base_url.startswith("https://")
        self.secret = secrets.token_bytes(32)
        self.tokens = HostTokenStore(refresh_margin=self.settings.psc.token_refresh_margin)
        if runtime.pm.get_plugin(TOKENS_PLUGIN) is None:
            runtime.pm.register(self.tokens, name=TOKENS_PLUGIN)
        self.sessions = SessionStore(
            idle_timeout=config.idle_timeout_minutes * 60,
            lifetime=config.session_lifetime_hours * 3600, on_end=self._session_ended,
        )
        self.login_limit = RateLimiter(config.login_attempts_per_minute)
        self.authcode = AuthorizationCodeLogin(self.settings, self.base_url + CALLBACK_PATH)
        self.ciba = CibaTokenSource(self.settings.psc,
                                    self.settings.eligibility.allowed_professions)
        self._jobs = ThreadPoolExecutor(max_workers=4, thread_name_prefix="prostop-console")
        self.refusals = Refusals()  # a refusal shown in the dialog once
        self.patient_links = PatientLinks()  # a CDS Hooks card's link to "this patient"

    # -- audit: every action with the practitioner's national id

    def audit(self, actor: str, action: str, issuance_id: str | None = None,
              **details: str | None) -> None:
        try:
            self.runtime.audit.append(actor=actor, action=action, issuance_id=issuance_id,
                                      details=details)
        except ProstopError as exc:  # the action happened; say loudly that it is unaudited
            log.error("console: could not audit %s by %s: %s", action, actor, exc.one_line())

    def _session_ended(self, session: Session, reason: str) -> None:
        self.tokens.forget(session=session.id)
        self.audit(session.practitioner.national_id, "console_session_end", reason=reason,
                   session=session.id[:8])

    # -- background work: an approval runs (PSC token, code, write-back) off the request

    def in_background(self, what: str, action: Callable[[], object],
                      session: Session) -> None:
        """Run ``action`` for ``session``: only its PSC token may serve (then the CIBA
        fallback asks with the dialog's two digits), and it serves this action only."""

        def run() -> None:
            try:
                with self.tokens.session(session.id):
                    action()
            except ProstopError as exc:
                log.warning("console: %s: %s", what, exc.one_line())
            except Exception:
                log.exception("console: %s failed", what)
            finally:
                # a fresh token for each issuance: the login's token is used up
                self.tokens.forget(session=session.id)

        self._jobs.submit(run)

    def submit(self, action: Callable[[], object]) -> None:
        self._jobs.submit(action)

    def close(self) -> None:
        self.sessions.close_all()
        self._jobs.shutdown(wait=False, cancel_futures=True)
        self.authcode.close()
        self.ciba.close()
        if self.runtime.pm.get_plugin(TOKENS_PLUGIN) is self.tokens:
            self.runtime.pm.unregister(name=TOKENS_PLUGIN)


# -- what every page shares -----------------------------------------------------------------


def console_of(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


def session_of(request: Request) -> Session:
    """The logged-in session (the guard lets no request without one reach a private route)."""
    session: Session | None = request.state.session
    if session is None:  # pragma: no cover - the guard answers first
        raise RuntimeError("no session on a private route")
    return session


def locale_of(request: Request) -> Locale:
    return "en" if request.cookies.get(LANG_COOKIE) == "en" else "fr"


def safe_next(target: str | None, default: str = "/demandes") -> str:
    """Only local paths: never redirect to another site (``//host``, ``\\\\host``, schemes)."""
    if (target and target.startswith("/") and not target.startswith("//")
            and "\\" not in target and all(c.isprintable() for c in target)):
        return target
    return default


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def csrf_token(request: Request) -> str:
    session: Session | None = request.state.session
    if session is not None:
        return session.csrf
    pre = request.state.cookies.get(PRE_COOKIE) or getattr(request.state, "new_pre", "")
    return pre_login_token(console_of(request).secret, pre) if pre else ""


def render(request: Request, template: str, status_code: int = 200,
           **context: Any) -> HTMLResponse:
    console = console_of(request)
    locale = locale_of(request)
    session: Session | None = request.state.session
    pending = len(console.runtime.engine.pending()) if session is not None else 0
    base: dict[str, Any] = {
        "locale": locale,
        "t": lambda key, **values: console_text(locale, key, **values),
        "session": session,
        "practitioner": session.practitioner if session else None,
        "csrf": csrf_token(request),
        "here": request.url.path,
        "path": request.url.path,
        "pending_count": pending,
    }
    html = templates.get_template(template).render(**(base | context))
    return HTMLResponse(html, status_code=status_code)


def _refusal_renderer(app: FastAPI) -> Callable[..., Any]:
    async def refuse(scope: Scope, status: int, kind: str) -> tuple[
            int, list[tuple[bytes, bytes]], bytes]:
        path: str = scope["path"]
        if path.endswith(".json") or path.startswith("/cds-services"):
            body = json.dumps({"error": kind}).encode()
            return status, [(b"content-type", b"application/json")], body
        cookies = scope.get("state", {}).get("cookies", {})
        locale: Locale = "en" if cookies.get(LANG_COOKIE) == "en" else "fr"
        key = {"csrf": "error.csrf", "too_big": "error.csrf", "login": "login.expired"}[kind]
        html = templates.get_template("error.html").render(
            locale=locale, t=lambda k, **v: console_text(locale, k, **v), session=None,
            practitioner=None, message=console_text(locale, key), pending_count=0,
            here=path, path=path, csrf="",
        )
        return status, [(b"content-type", b"text/html; charset=utf-8")], html.encode()

    return refuse


def create_app(console: Console) -> FastAPI:
    """The console's FastAPI app (no OpenAPI pages: nothing here is for machines but CDS)."""
    from prostop_plugin.console import cds, routes_login, routes_patient, routes_requests
    from prostop_plugin.console_stats import stats_router

    app = FastAPI(title="prostop console", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.console = console
    app.mount("/static", screen_static_files(PACKAGE_DIR / "static"), name="static")
    app.include_router(routes_login.router)
    app.include_router(routes_requests.router)
    app.include_router(routes_patient.router)
    # the statistics page: behind the same guard as every other route (login, CSRF)
    app.include_router(stats_router(console.runtime, locale_of=locale_of))
    if console.settings.console.cds_hooks:
        app.include_router(cds.router)
    app.add_middleware(ConsoleGuard, sessions=console.sessions, secret=console.secret,
                       tls=console.tls, refuse=_refusal_renderer(app))
    return app
