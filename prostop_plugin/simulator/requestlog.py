"""``--request-log FILE``: one JSON line per request received, so tests can see the wire.

Secrets are kept out of the log: the Authorization header is reduced to its scheme, and a
``client_secret`` form field to a placeholder.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.types import ASGIApp, Message, Receive, Scope, Send

REDACTED = "<redacted>"
_SECRET_FIELDS = {"client_secret", "client_assertion", "token", "refresh_token"}


def redact_header(name: str, value: str) -> str:
    if name in ("authorization", "proxy-authorization"):
        scheme = value.split(" ", 1)[0]
        return f"{scheme} {REDACTED}"
    return value


def redact_body(body: bytes, content_type: str) -> str:
    text = body.decode("utf-8", errors="replace")
    if content_type.startswith("application/x-www-form-urlencoded"):
        fields = parse_qsl(text, keep_blank_values=True)
        return urlencode([(k, REDACTED if k in _SECRET_FIELDS else v) for k, v in fields])
    return text


class RequestLog:
    """Appends JSON lines to a file; each write opens and closes it (no handle to leak)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, entry: dict[str, Any]) -> None:
        line = json.dumps(entry, ensure_ascii=False) + "\n"
        with self._lock, self.path.open("a", encoding="utf-8") as out:  # path may change
            out.write(line)


def read_request_log(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


class RequestLogMiddleware:
    """Records each request as it arrives, before any fault can drop it."""

    def __init__(self, app: ASGIApp, log: RequestLog) -> None:
        self.app = app
        self.log = log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = bytearray()
        received: list[Message] = []
        while True:
            message = await receive()
            received.append(message)
            if message["type"] != "http.request":
                break
            body.extend(message.get("body", b""))
            if not message.get("more_body", False):
                break
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        self.log.write(
            {
                "time": datetime.now(UTC).isoformat(),
                "monotonic": time.monotonic(),
                "client": list(scope["client"]) if scope.get("client") else None,
                "method": scope["method"],
                "path": scope["path"],
                "query": scope["query_string"].decode("latin-1"),
                "headers": {k: redact_header(k, v) for k, v in headers.items()},
                "body": redact_body(bytes(body), headers.get("content-type", "")),
            }
        )

        async def replay() -> Message:
            if received:
                return received.pop(0)
            return await receive()

        await self.app(scope, replay, send)
