"""Fault injection, as an ASGI middleware in front of the simulated services.

A fault comes from the run's options (``--fault``), from the queue the admin endpoint fills
(``POST /_simulator/faults``), or from the request itself (header ``X-Simulator-Fault``).
Admin endpoints are never faulted.
"""

from __future__ import annotations

import asyncio
import json
import random
import socket
import struct
import threading
from collections.abc import Iterable
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from prostop_plugin.config import PSC_REALM_PATH
from prostop_plugin.simulator.options import FAULT_ONLY_ON, Fault, parse_fault

#: where :mod:`prostop_plugin.simulator.server` puts the connection's transport in the scope
TRANSPORT_EXTENSION = "prostop.simulator.transport"
FAULT_HEADER = b"x-simulator-fault"
ADMIN_PREFIX = "/_simulator"
DEFAULT_TIMEOUT_SLEEP = 15.0

_OIDC = PSC_REALM_PATH + "/protocol/openid-connect"
_ENDPOINTS = {
    "/api/v1/generate/short": "generate",
    "/api/v1/verify": "verify",
    PSC_REALM_PATH + "/.well-known/wallet-openid-configuration": "discovery",
    PSC_REALM_PATH + "/.well-known/openid-configuration": "discovery",
    _OIDC + "/certs": "jwks",
    _OIDC + "/ext/ciba/auth": "ciba",
    _OIDC + "/token": "token",
    _OIDC + "/token/introspect": "introspect",
    _OIDC + "/userinfo": "userinfo",
}


def endpoint_of(path: str) -> str | None:
    """The fault target name of a path; None for admin and unknown paths."""
    return _ENDPOINTS.get(path.rstrip("/") or "/")


class FaultQueue:
    """Faults waiting for matching requests; thread-safe (the admin API runs concurrently)."""

    def __init__(self, faults: Iterable[Fault] = ()) -> None:
        self._faults: list[Fault] = [f.model_copy() for f in faults]
        self._lock = threading.Lock()
        self.injected = 0

    def add(self, faults: Iterable[Fault]) -> None:
        with self._lock:
            self._faults.extend(f.model_copy() for f in faults)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def listing(self) -> list[dict[str, Any]]:
        with self._lock:
            return [f.model_dump() | {"description": f.describe()} for f in self._faults]

    def take(self, endpoint: str) -> Fault | None:
        """The fault for one request to ``endpoint``, counting it down."""
        with self._lock:
            for index, fault in enumerate(self._faults):
                if fault.endpoint not in (endpoint, "any"):
                    continue
                if fault.kind in FAULT_ONLY_ON and FAULT_ONLY_ON[fault.kind] != endpoint:
                    continue
                if fault.probability < 1 and random.random() >= fault.probability:
                    continue
                if fault.count is not None:
                    fault.count -= 1
                    if fault.count == 0:
                        del self._faults[index]
                self.injected += 1
                return fault.model_copy()
        return None


async def pause(seconds: float, stopping: threading.Event) -> None:
    """Sleep, but give up as soon as the simulator is stopping (shutdown never waits long)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not stopping.is_set():
        left = deadline - loop.time()
        if left <= 0:
            return
        await asyncio.sleep(min(left, 0.05))


async def send_json(
    send: Send, status: int, body: object, headers: Iterable[tuple[str, str]] = ()
) -> None:
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *((k.encode(), v.encode()) for k, v in headers),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class FaultMiddleware:
    def __init__(
        self, app: ASGIApp, queue: FaultQueue, latency: float, stopping: threading.Event
    ) -> None:
        self.app = app
        self.queue = queue
        self.latency = latency
        self.stopping = stopping

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = endpoint_of(scope["path"]) if scope["type"] == "http" else None
        if endpoint is None:
            await self.app(scope, receive, send)
            return
        if self.latency:
            await pause(self.latency, self.stopping)
        try:
            fault = self._fault_from_header(scope, endpoint) or self.queue.take(endpoint)
        except ValueError as exc:
            await send_json(send, 400, {"error": "invalid_fault", "error_description": str(exc)})
            return
        if fault is None:
            await self.app(scope, receive, send)
            return
        # payload faults are carried out by the endpoint itself
        scope.setdefault("state", {})["fault"] = fault
        await self._inject(fault, scope, receive, send)

    def _fault_from_header(self, scope: Scope, endpoint: str) -> Fault | None:
        for name, value in scope["headers"]:
            if name == FAULT_HEADER:
                fault = parse_fault(value.decode("latin-1"))
                only = FAULT_ONLY_ON.get(fault.kind)
                if only is not None and only != endpoint:
                    raise ValueError(f"fault '{fault.kind}' only applies to endpoint '{only}'")
                self.queue.injected += 1
                return fault
        return None

    async def _inject(self, fault: Fault, scope: Scope, receive: Receive, send: Send) -> None:
        kind = fault.kind
        if kind == "latency":
            await pause(1.0 if fault.value is None else fault.value, self.stopping)
            await self.app(scope, receive, send)
        elif kind == "timeout":
            seconds = DEFAULT_TIMEOUT_SLEEP if fault.value is None else fault.value
            await pause(seconds, self.stopping)
            await self.app(scope, receive, send)
        elif kind in ("500", "503"):
            reason = "internal error" if kind == "500" else "service unavailable"
            await send_json(send, int(kind), {"error": reason, "message": f"simulated {kind}"})
        elif kind == "429":
            retry_after = str(round(1.0 if fault.value is None else fault.value))
            body = {"error": "too_many_requests", "message": "simulated quota exceeded"}
            await send_json(send, 429, body, [("retry-after", retry_after)])
        elif kind == "401":
            await send_json(
                send,
                401,
                {"error": "invalid_token", "error_description": "simulated: token refused"},
                [("www-authenticate", 'Bearer error="invalid_token"')],
            )
        elif kind == "slow_down":
            await send_json(send, 400, {"error": "slow_down"})
        elif kind == "malformed_json":
            await send_json(send, 200, b'{"code": "K7Q2', [])
        elif kind == "reset":
            await self._reset(scope, receive, send)
        else:  # bad_code, expired_validity: the endpoint reads scope["state"]["fault"]
            await self.app(scope, receive, send)

    async def _reset(self, scope: Scope, receive: Receive, send: Send) -> None:
        transport = scope.get("extensions", {}).get(TRANSPORT_EXTENSION)
        if transport is None:
            # served by a plain uvicorn: start an answer and break it off instead
            await send(
                {"type": "http.response.start", "status": 200,
                 "headers": [(b"content-length", b"64")]}
            )
            raise ConnectionAbortedError("simulated connection reset")
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # linger 0: closing sends RST instead of FIN, as a crashed peer or middlebox would
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
        # let the server notice the disconnect, so it does not try to answer
        try:
            async with asyncio.timeout(1.0):
                while (await receive())["type"] != "http.disconnect":
                    pass
        except TimeoutError:
            pass
