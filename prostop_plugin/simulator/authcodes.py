"""The simulated PSC's authorization code store: open login pages and issued codes."""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from dataclasses import dataclass

from prostop_plugin.simulator.options import SimPractitioner

#: seconds a code may wait for its exchange (Keycloak's default is one minute)
CODE_LIFETIME = 60.0
#: seconds the login page may stay open before its request is forgotten
PAGE_LIFETIME = 600.0


@dataclass
class AuthorizationRequest:
    """What a client asked at the authorize endpoint, kept while the login page is open."""

    client_id: str
    redirect_uri: str
    scope: str
    state: str | None
    nonce: str | None
    code_challenge: str | None
    created: float


@dataclass
class Grant:
    """A code handed to the client, waiting for its exchange."""

    request: AuthorizationRequest
    practitioner: SimPractitioner
    method: str
    created: float
    used: bool = False


class AuthCodes:
    """Open login pages and issued codes; thread-safe."""

    def __init__(self) -> None:
        self._pages: dict[str, AuthorizationRequest] = {}
        self._codes: dict[str, Grant] = {}
        self._lock = threading.Lock()

    def open_page(self, request: AuthorizationRequest) -> str:
        page_id = secrets.token_urlsafe(18)
        with self._lock:
            self._forget_old(time.monotonic())
            self._pages[page_id] = request
        return page_id

    def take_page(self, page_id: str) -> AuthorizationRequest | None:
        with self._lock:
            return self._pages.pop(page_id, None)

    def grant(self, request: AuthorizationRequest, practitioner: SimPractitioner,
              method: str) -> str:
        code = secrets.token_urlsafe(32)
        with self._lock:
            self._codes[code] = Grant(request, practitioner, method, time.monotonic())
        return code

    def redeem(self, code: str) -> Grant | str | None:
        """The grant of a fresh, unused code (now used); ``"used"`` for a code seen before
        (RFC 6749 §4.1.2: a second use is refused); ``None`` for an unknown or stale one."""
        with self._lock:
            grant = self._codes.get(code)
            if grant is None or time.monotonic() - grant.created > CODE_LIFETIME:
                return None
            if grant.used:
                return "used"
            grant.used = True
            return grant

    def _forget_old(self, now: float) -> None:
        for key, page in list(self._pages.items()):
            if now - page.created > PAGE_LIFETIME:
                del self._pages[key]
        for key, grant in list(self._codes.items()):
            if now - grant.created > 2 * CODE_LIFETIME:
                del self._codes[key]


def s256(verifier: str) -> str:
    """RFC 7636 §4.2: BASE64URL(SHA256(ASCII(code_verifier))), unpadded."""
    digest = hashlib.sha256(verifier.encode("ascii", errors="replace")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
