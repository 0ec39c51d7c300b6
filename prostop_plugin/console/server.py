"""Serving the console with uvicorn in a background thread: ``prostop serve`` starts it when
``[console] listen`` is set (a :class:`~prostop_plugin.hooks.BackgroundService`)."""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

import uvicorn

from prostop_plugin.config import is_loopback, split_listen
from prostop_plugin.console.web import Console, create_app
from prostop_plugin.errors import ConfigError

if TYPE_CHECKING:
    from prostop_plugin.app import Prostop

log = logging.getLogger(__name__)
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0


def check_console_settings(runtime: Prostop) -> tuple[str, int]:
    """Where to listen, after the checks a start needs.

    :raises ConfigError: a network address without TLS, TLS files missing.
    """
    config = runtime.settings.console
    if config.listen is None:
        raise ConfigError("the console is not enabled", where="[console] listen",
                          fix='set listen = "127.0.0.1:8710"')
    host, port = split_listen(config.listen)
    if not config.tls and not is_loopback(host):
        raise ConfigError(
            f"the console would listen on {host}, reachable from the network, without TLS",
            where="[console] listen",
            fix="set tls_cert_file and tls_key_file, or listen on 127.0.0.1",
        )
    for name, path in (("tls_cert_file", config.tls_cert_file),
                       ("tls_key_file", config.tls_key_file)):
        if path is not None and not path.is_file():
            raise ConfigError(f"{name} is not a readable file", where=f"[console] {name} = "
                              f"{path}", fix="point it at the certificate (PEM) and its key")
    return host, port


class ConsoleService:
    """The console on its own uvicorn server, in a daemon thread."""

    def __init__(self, runtime: Prostop) -> None:
        self.runtime = runtime
        self.host, self.port = check_console_settings(runtime)
        self.console: Console | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        config = runtime.settings.console
        self.name = f"console {config.base_url()}"

    def start(self) -> None:
        config = self.runtime.settings.console
        self.console = Console(self.runtime)
        tls = {"ssl_certfile": str(config.tls_cert_file),
               "ssl_keyfile": str(config.tls_key_file)} if config.tls else {}
        server = uvicorn.Server(uvicorn.Config(
            create_app(self.console), host=self.host, port=self.port, lifespan="off",
            log_level="warning", access_log=False, timeout_graceful_shutdown=1,
            server_header=False, **tls,  # type: ignore[arg-type]
        ))
        failure: list[BaseException] = []

        def serve() -> None:
            try:
                server.run()
            except BaseException as exc:  # SystemExit when the port is taken
                failure.append(exc)

        thread = threading.Thread(target=serve, name="prostop-console", daemon=True)
        thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not server.started:
            if failure or not thread.is_alive():
                self.console.close()
                raise ConfigError(f"the console could not start on {self.host}:{self.port}",
                                  where="[console] listen",
                                  fix="is the port taken by another program?")
            if time.monotonic() > deadline:
                server.should_exit = True
                raise ConfigError(f"the console did not start on {self.host}:{self.port}",
                                  where="[console] listen")
            time.sleep(0.01)
        self._server, self._thread = server, thread

    @property
    def bound_port(self) -> int:
        assert self._server is not None
        return int(self._server.servers[0].sockets[0].getsockname()[1])

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(STOP_TIMEOUT)
            if self._thread.is_alive():
                self._server.force_exit = True
                self._thread.join(STOP_TIMEOUT)
        if self.console is not None:
            self.console.close()
            self.console = None
