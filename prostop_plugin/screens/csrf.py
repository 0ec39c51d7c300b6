"""Forms safe from cross-site requests, for every host that shows the screens (the console, the
demo EHR): each form carries this browser's token in its ``csrf`` field, and a state-changing
request without it, or with another, is refused (403) before the route runs: nothing changes.

Two pieces:

* :class:`CsrfCheck`, the check itself: it reads the form (bounded; url-encoded, or multipart
  with a file), compares its ``csrf`` field with the token expected, and hands the body on to
  the route as if unread. The console's guard uses it with its sessions' own random tokens.
* :class:`CsrfGuard`, an ASGI middleware for a host whose login is a session cookie (the demo
  EHR): the token is an HMAC, under a secret of this process, of the session cookie, or before
  login of a random pre-login cookie the guard sets itself; the page's forms read it from
  ``request.state.csrf`` (:func:`csrf_token_of`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from http.cookies import SimpleCookie
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSRF_FIELD = "csrf"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
#: a refusal as the host words it: ``(scope, status, why)`` → (status, headers, body); ``why``
#: is ``csrf`` (no token, or another) or ``too_big`` (a form over the limit)
Refuse = Callable[[Scope, int, str], Awaitable[tuple[int, list[tuple[bytes, bytes]], bytes]]]


def keyed_token(secret: bytes, purpose: str, value: str) -> str:
    """A token bound to ``value`` (a cookie) that only the holder of ``secret`` can make."""
    return hmac.new(secret, purpose.encode() + b"|" + value.encode(), hashlib.sha256).hexdigest()


def cookies_of(scope: Scope) -> dict[str, str]:
    """The request's cookies (none when the header is malformed)."""
    jar: SimpleCookie = SimpleCookie()
    for name, value in scope.get("headers", []):
        if name == b"cookie":
            try:
                jar.load(value.decode("latin-1"))
            except Exception:  # a malformed cookie header: no cookies
                return {}
    return {key: morsel.value for key, morsel in jar.items()}


async def read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole request body, or None past ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"".join(chunks)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def replay(body: bytes, original: Receive) -> Receive:
    """The body read for the check, handed to the route as if unread."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await original()  # then only a disconnect can come

    return receive


async def _nothing_more() -> Message:
    return {"type": "http.disconnect"}


async def form_field(scope: Scope, body: bytes, name: str) -> str:
    """The text field ``name`` of the form in ``body`` ("" when absent or unreadable)."""
    from starlette.requests import Request  # the web stack, only where forms are served

    request = Request({**scope, "state": {}}, replay(body, _nothing_more))
    try:
        form = await request.form()
    except Exception:  # not a form, a broken multipart: no token
        return ""
    try:
        value = form.get(name)
        return value if isinstance(value, str) else ""
    finally:
        await form.close()


async def answer(send: Send, status: int, headers: list[tuple[bytes, bytes]],
                 body: bytes) -> None:
    """A whole response, from a middleware."""
    await send({"type": "http.response.start", "status": status,
                "headers": [*headers, (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class CsrfCheck:
    """The check of one state-changing request; ``max_body``: the largest form read."""

    def __init__(self, max_body: int) -> None:
        self.max_body = max_body

    async def check(self, scope: Scope, receive: Receive,
                    expected: str | None) -> tuple[Receive, str]:
        """``(receive, "")`` to hand on when the form carries ``expected``, else
        ``(receive, why)``: ``too_big`` or ``csrf``."""
        body = await read_body(receive, self.max_body)
        if body is None:
            return receive, "too_big"
        presented = await form_field(scope, body, CSRF_FIELD)
        if not (expected and presented and hmac.compare_digest(presented, expected)):
            return receive, "csrf"
        return replay(body, receive), ""


class CsrfGuard:
    """See the module. ``session_cookie``: the host's login cookie; ``pre_cookie``: the one
    this guard sets for browsers without it (HttpOnly, SameSite=Strict; Secure when
    ``secure``); ``refuse`` words the refusals."""

    def __init__(self, app: ASGIApp, *, session_cookie: str, pre_cookie: str, refuse: Refuse,
                 max_body: int, secret: bytes | None = None, secure: bool = False) -> None:
        self.app = app
        self.session_cookie = session_cookie
        self.pre_cookie = pre_cookie
        self.refuse = refuse
        self.csrf = CsrfCheck(max_body)
        self.secret = secret if secret is not None else secrets.token_bytes(32)
        self.secure = secure

    def token(self, cookies: dict[str, str]) -> str:
        session = cookies.get(self.session_cookie)
        if session:
            return keyed_token(self.secret, "session", session)
        return keyed_token(self.secret, "csrf", cookies.get(self.pre_cookie, ""))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cookies = cookies_of(scope)
        new_pre = None
        if not cookies.get(self.pre_cookie):
            new_pre = cookies[self.pre_cookie] = secrets.token_urlsafe(24)
        state: dict[str, Any] = scope.setdefault("state", {})
        state["cookies"] = cookies
        state["csrf"] = self.token(cookies)
        set_cookie = self._cookie(new_pre) if new_pre else None

        async def send_with_cookie(message: Message) -> None:
            if set_cookie is not None and message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), set_cookie]
            await send(message)

        if scope["method"] not in SAFE_METHODS:
            # a browser without the pre-login cookie cannot have the token of any form
            expected = None if new_pre else state["csrf"]
            receive, refused = await self.csrf.check(scope, receive, expected)
            if refused:
                status = 413 if refused == "too_big" else 403
                await answer(send_with_cookie, *await self.refuse(scope, status, refused))
                return
        await self.app(scope, receive, send_with_cookie)

    def _cookie(self, value: str) -> tuple[bytes, bytes]:
        secure = "; Secure" if self.secure else ""
        return (b"set-cookie", f"{self.pre_cookie}={value}; HttpOnly; Path=/; "
                f"SameSite=Strict{secure}".encode())


def csrf_token_of(request: Any) -> str:
    """The token for the forms of the page answering ``request`` (set by :class:`CsrfGuard`)."""
    token = getattr(request.state, "csrf", "")
    return token if isinstance(token, str) else ""
