"""``ServerThread``: uvicorn in a daemon thread, started and stopped within bounds."""

from __future__ import annotations

import socket
import urllib.request
from typing import Any

import pytest
import uvicorn

from prostop_plugin import ServerDidNotStart, ServerThread


async def hello(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"hello"})


def server(port: int = 0) -> uvicorn.Server:
    return uvicorn.Server(uvicorn.Config(hello, host="127.0.0.1", port=port, lifespan="off",
                                         log_level="critical"))


def test_it_answers_once_started_and_its_thread_ends_at_the_stop() -> None:
    running = ServerThread.start(server(), "test-server")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{running.port}/", timeout=10) as reply:
            assert reply.read() == b"hello"
    finally:
        running.stop()
    assert not running.thread.is_alive()


def test_a_port_taken_is_a_failure_to_start_not_a_wait() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(ServerDidNotStart) as raised:
            ServerThread.start(server(taken.getsockname()[1]), "test-server")
    assert not raised.value.timed_out
    assert isinstance(raised.value.failure, SystemExit)
