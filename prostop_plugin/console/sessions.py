"""Server-side sessions of the console, the logins under way, and the login rate limit.

Everything is in memory: restarting ``prostop serve`` logs everyone out, as PSC tokens must
not be stored. The browser holds only random identifiers (HttpOnly cookies); the session
(who, when, the CSRF token) stays here. A session ends after ``idle_timeout`` without a
request or ``lifetime`` after the login, whichever comes first.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from prostop_plugin.models import Practitioner

LoginMethod = Literal["authorization_code", "ciba"]


@dataclass
class Session:
    """One physician logged in on one browser."""

    id: str
    practitioner: Practitioner
    method: LoginMethod
    csrf: str
    created: float
    last_seen: float


@dataclass
class PendingLogin:
    """A login started on this browser: the authorization code flow's ``state``, ``nonce``
    and PKCE verifier, or a CIBA request running in the background."""

    id: str
    created: float
    next_url: str
    state: str = ""
    nonce: str = ""
    code_verifier: str = ""
    #: CIBA: the practitioner asked, the two digits shown, how it went
    national_id: str = ""
    binding_message: str = ""
    status: Literal["waiting", "done", "failed", "refused"] = "waiting"
    message: str = ""
    #: CIBA: the verified identity, once PSC answered (the wait page then opens the session)
    identity: Any = field(default=None, repr=False)
    cancel: threading.Event = field(default_factory=threading.Event, repr=False)


#: logins not finished in this long are forgotten (seconds): PSC's login page, an e-CPS approval
LOGIN_LIFETIME = 600.0


class SessionStore:
    """Sessions and logins under way; thread-safe.

    :param idle_timeout: seconds without a request before a session ends.
    :param lifetime: seconds after the login when a session ends anyway.
    :param on_end: told ``(session, reason)`` when a session ends (to forget its tokens and
        audit it); ``reason`` is ``logout``, ``idle`` or ``lifetime``.
    """

    def __init__(
        self, *, idle_timeout: float, lifetime: float,
        on_end: Callable[[Session, str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.idle_timeout = idle_timeout
        self.lifetime = lifetime
        self.on_end = on_end
        self.clock = clock
        self._sessions: dict[str, Session] = {}
        self._logins: dict[str, PendingLogin] = {}
        self._lock = threading.Lock()

    # -- sessions

    def open(self, practitioner: Practitioner, method: LoginMethod) -> Session:
        now = self.clock()
        session = Session(id=secrets.token_urlsafe(32), practitioner=practitioner,
                          method=method, csrf=secrets.token_urlsafe(32), created=now,
                          last_seen=now)
        with self._lock:
            self._sessions[session.id] = session
        return session

    def get(self, session_id: str | None, *, touch: bool = True) -> tuple[Session | None, str]:
        """The live session of this id and ``""``, or ``None`` and why not (``""`` unknown,
        ``idle``, ``lifetime``): an expired session ends here."""
        if not session_id:
            return None, ""
        now = self.clock()
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None:
                return None, ""
            reason = ""
            if now - session.created >= self.lifetime:
                reason = "lifetime"
            elif now - session.last_seen >= self.idle_timeout:
                reason = "idle"
            if reason:
                del self._sessions[session_id]
            elif touch:
                session.last_seen = now
        if reason:
            self._ended(session, reason)
            return None, reason
        return session, ""

    def close(self, session_id: str | None) -> Session | None:
        with self._lock:
            session = self._sessions.pop(session_id or "", None)
        if session is not None:
            self._ended(session, "logout")
        return session

    def close_all(self) -> None:
        with self._lock:
            sessions = list(self._sessions.values())
            self._sessions.clear()
            for login in self._logins.values():
                login.cancel.set()
            self._logins.clear()
        for session in sessions:
            self._ended(session, "logout")

    def _ended(self, session: Session, reason: str) -> None:
        if self.on_end is not None:
            self.on_end(session, reason)

    # -- logins under way

    def start_login(self, next_url: str) -> PendingLogin:
        now = self.clock()
        login = PendingLogin(id=secrets.token_urlsafe(24), created=now, next_url=next_url)
        with self._lock:
            for key, old in list(self._logins.items()):
                if now - old.created > LOGIN_LIFETIME:
                    old.cancel.set()
                    del self._logins[key]
            self._logins[login.id] = login
        return login

    def login(self, login_id: str | None) -> PendingLogin | None:
        if not login_id:
            return None
        with self._lock:
            login = self._logins.get(login_id)
            if login is not None and self.clock() - login.created > LOGIN_LIFETIME:
                login.cancel.set()
                del self._logins[login_id]
                return None
            return login

    def end_login(self, login_id: str) -> PendingLogin | None:
        """Take a login out (used once: a replayed callback finds nothing)."""
        with self._lock:
            return self._logins.pop(login_id, None)


class RateLimiter:
    """At most ``limit`` events per ``window`` seconds per key (a client address)."""

    def __init__(self, limit: int, window: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        now = self.clock()
        with self._lock:
            if len(self._events) > 10_000:  # a flood of addresses: forget the quiet ones
                for other in [k for k, v in self._events.items() if not v or
                              now - v[-1] > self.window]:
                    del self._events[other]
            events = self._events.setdefault(key, deque())
            while events and now - events[0] > self.window:
                events.popleft()
            if len(events) >= self.limit:
                return False
            events.append(now)
            return True
