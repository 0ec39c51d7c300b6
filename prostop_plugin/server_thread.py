"""A uvicorn server run in a daemon thread, as the console, the demo EHR and the simulator
are: the start returns once it accepts connections (or fails, bounded), the stop is bounded.

The caller builds the :class:`uvicorn.Server` (its app, address, TLS); nothing here imports
uvicorn, so importing the package does not load the web stack.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import uvicorn

__all__ = ["START_TIMEOUT", "STOP_TIMEOUT", "ServerDidNotStart", "ServerThread"]

START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0


class ServerDidNotStart(Exception):
    """The server did not accept connections: it stopped (``failure``: what it raised, such
    as uvicorn's ``SystemExit`` when the port is taken) or, ``timed_out``, not in time (it
    was told to exit)."""

    def __init__(self, *, timed_out: bool, failure: BaseException | None = None) -> None:
        super().__init__("timed out" if timed_out else f"stopped: {failure!r}")
        self.timed_out = timed_out
        self.failure = failure


class ServerThread:
    """A started uvicorn server and its thread."""

    def __init__(self, server: uvicorn.Server, thread: threading.Thread) -> None:
        self.server = server
        self.thread = thread

    @classmethod
    def start(cls, server: uvicorn.Server, name: str, *,
              timeout: float = START_TIMEOUT) -> ServerThread:
        """Run ``server`` in a daemon thread called ``name``; return once it accepts
        connections.

        :raises ServerDidNotStart: it stopped first, or did not start within ``timeout``.
        """
        failure: list[BaseException] = []

        def serve() -> None:
            try:
                server.run()
            except BaseException as exc:  # SystemExit when the port is taken
                failure.append(exc)

        thread = threading.Thread(target=serve, name=name, daemon=True)
        thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if failure or not thread.is_alive():
                raise ServerDidNotStart(timed_out=False,
                                        failure=failure[0] if failure else None)
            if time.monotonic() > deadline:
                server.should_exit = True
                raise ServerDidNotStart(timed_out=True)
            time.sleep(0.01)
        return cls(server, thread)

    @property
    def port(self) -> int:
        """The port it listens on (the one the system chose for port 0)."""
        return int(self.server.servers[0].sockets[0].getsockname()[1])

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Ask it to exit and wait for the thread; force the exit when it does not within
        ``timeout``, then wait as long again."""
        self.server.should_exit = True
        self.thread.join(timeout)
        if self.thread.is_alive():
            self.server.force_exit = True
            self.thread.join(timeout)
