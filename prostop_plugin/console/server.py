"""Serving the console with uvicorn in a background thread: ``prostop serve`` starts it when
``[console] listen`` is set (a :class:`~prostop_plugin.hooks.BackgroundService`)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import uvicorn

from prostop_plugin.config import is_loopback, split_listen
from prostop_plugin.console.web import Console, create_app
from prostop_plugin.errors import ConfigError
from prostop_plugin.server_thread import ServerDidNotStart, ServerThread

if TYPE_CHECKING:
    from prostop_plugin.app import Prostop

log = logging.getLogger(__name__)


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
        self._running: ServerThread | None = None
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
        try:
            self._running = ServerThread.start(server, "prostop-console")
        except ServerDidNotStart as exc:
            if exc.timed_out:
                raise ConfigError(f"the console did not start on {self.host}:{self.port}",
                                  where="[console] listen") from None
            self.console.close()
            raise ConfigError(f"the console could not start on {self.host}:{self.port}",
                              where="[console] listen",
                              fix="is the port taken by another program?") from None

    @property
    def bound_port(self) -> int:
        assert self._running is not None
        return self._running.port

    def stop(self) -> None:
        if self._running is not None:
            self._running.stop()
        if self.console is not None:
            self.console.close()
            self.console = None
