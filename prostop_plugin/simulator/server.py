"""Serving the simulator with uvicorn: in a background thread (tests, bench, demo) or in the
foreground (``prostop simulator``)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.h11_impl import H11Protocol

from prostop_plugin.config import PSC_REALM_PATH
from prostop_plugin.server_thread import ServerDidNotStart, ServerThread
from prostop_plugin.simulator.app import create_app, simulator_state
from prostop_plugin.simulator.faults import ADMIN_PREFIX, TRANSPORT_EXTENSION
from prostop_plugin.simulator.options import Fault, SimulatorOptions, parse_fault
from prostop_plugin.simulator.requestlog import read_request_log
from prostop_plugin.simulator.state import SimulatorState


class SimulatorProtocol(H11Protocol):
    """uvicorn's h11 protocol, handing each request its connection's transport so that the
    ``reset`` fault can abort the TCP connection for real (uvicorn has no public way)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        app = self.app

        async def with_transport(scope: Any, receive: Any, send: Any) -> None:
            scope.setdefault("extensions", {})[TRANSPORT_EXTENSION] = transport
            await app(scope, receive, send)

        self.app = with_transport


@dataclass(frozen=True)
class ServerTLS:
    """Serve https (an IT admin's dry run of a private CA, the tests' TLS proofs).

    With ``client_ca`` set, a client certificate signed by it is required (mTLS).
    """

    certfile: Path
    keyfile: Path
    client_ca: Path | None = None

    def uvicorn_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {
            "ssl_certfile": str(self.certfile), "ssl_keyfile": str(self.keyfile)
        }
        if self.client_ca is not None:
            options |= {"ssl_ca_certs": str(self.client_ca), "ssl_cert_reqs": ssl.CERT_REQUIRED}
        return options


def uvicorn_config(
    app: FastAPI, host: str, port: int, log_level: str, tls: ServerTLS | None = None
) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=SimulatorProtocol,
        lifespan="off",
        log_level=log_level,
        access_log=log_level == "debug",
        timeout_graceful_shutdown=1,
        **(tls.uvicorn_options() if tls is not None else {}),
    )


class ForegroundServer(uvicorn.Server):
    """uvicorn re-raises SIGINT/SIGTERM once it has shut down, which would end the process by
    the signal; we have shut down cleanly by then, so we just return."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        wanted = (signal.SIGINT, signal.SIGTERM)
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in wanted}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


class RunningSimulator:
    """A simulator served from a background thread; a context manager that stops it on exit."""

    def __init__(self, app: FastAPI, running: ServerThread, scheme: str) -> None:
        self.app = app
        self._running = running
        self._scheme = scheme

    @property
    def state(self) -> SimulatorState:
        return simulator_state(self.app)

    @property
    def port(self) -> int:
        return self._running.port

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``: what ``[code_service] base_url`` points at."""
        host = self._running.server.config.host
        return f"{self._scheme}://{host}:{self.port}"

    @property
    def psc_issuer(self) -> str:
        """What ``[psc] issuer`` points at."""
        return self.base_url + PSC_REALM_PATH

    def queue_faults(self, *faults: Fault | str) -> None:
        """Inject faults into the next matching requests (``"503:2"``, ``Fault(...)``)."""
        self.state.faults.add(parse_fault(f) if isinstance(f, str) else f for f in faults)

    def logged_requests(self, *, include_admin: bool = False) -> list[dict[str, Any]]:
        """The request log so far (empty when the run has none), oldest first."""
        path = self.state.options.request_log
        entries = read_request_log(path) if path is not None else []
        if include_admin:
            return entries
        return [e for e in entries if not str(e["path"]).startswith(ADMIN_PREFIX)]

    def reset(self, *, request_log: Path | None = None) -> None:
        """Back to a fresh start (see :meth:`SimulatorState.reset`); with ``request_log``,
        log to that file from now on (the run must have been started with a request log)."""
        self.state.reset()
        if request_log is not None:
            if self.state.request_log is None:
                raise ValueError("this simulator was started without a request log")
            self.state.request_log.path = request_log
            self.state.options.request_log = request_log

    def stop(self) -> None:
        """Stop serving and wait (bounded) for the thread; safe to call twice."""
        self.state.stopping.set()
        self._running.stop()

    def __enter__(self) -> RunningSimulator:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def run_in_thread(
    options: SimulatorOptions | None = None, host: str = "127.0.0.1", port: int = 0,
    *, log_level: str = "warning", tls: ServerTLS | None = None,
) -> RunningSimulator:
    """Start the simulator on ``host:port`` (0: a free port) and return once it accepts
    connections.

    :raises RuntimeError: when it does not start within a few seconds (port taken, …).
    """
    app = create_app(options)
    server = uvicorn.Server(uvicorn_config(app, host, port, log_level, tls))
    try:
        running = ServerThread.start(server, "prostop-simulator")
    except ServerDidNotStart as exc:
        if exc.timed_out:
            raise RuntimeError(f"the simulator did not start on {host}:{port} in time") from None
        failure = [exc.failure] if exc.failure is not None else []
        raise RuntimeError(f"the simulator could not start on {host}:{port}: {failure!r}") from None
    return RunningSimulator(app, running, "https" if tls is not None else "http")
