"""The ``[metrics]`` endpoint: ``prostop serve`` serves the Prometheus figures on their own port.

``GET /metrics`` answers in the Prometheus text format (prometheus-client's own HTTP server,
in a daemon thread). The write-back backlog is read from the ledger at each scrape, so it is
right even when another process (``prostop pending approve``) issued the codes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from prostop_plugin.errors import ConfigError, ProstopError
from prostop_plugin.models import utcnow
from prostop_plugin.stats import write_back_backlog
from prostop_plugin.telemetry import REGISTRY

if TYPE_CHECKING:
    from prostop_plugin.app import Prostop

log = logging.getLogger(__name__)


class BacklogCollector(Collector):
    """Codes waiting for their write-back, read from the ledger when Prometheus scrapes."""

    def __init__(self, ledger_path: Path) -> None:
        self.ledger_path = ledger_path

    def collect(self) -> Iterable[Metric]:
        try:
            count, oldest = write_back_backlog(self.ledger_path, utcnow())
        except ProstopError as exc:  # no ledger yet, or unreadable: say so in the log only
            log.warning("metrics: write-back backlog not read: %s", exc.one_line())
            count, oldest = 0, 0.0
        yield GaugeMetricFamily(
            "prostop_write_back_backlog",
            "Codes issued and not yet written back into the record", value=count)
        yield GaugeMetricFamily(
            "prostop_write_back_oldest_seconds",
            "How long the oldest code waiting for its write-back has waited since it was "
            "issued (0 when none waits)", value=oldest)


class MetricsService:
    """A :class:`~prostop_plugin.hooks.BackgroundService` serving ``/metrics``."""

    def __init__(self, runtime: Prostop, registry: CollectorRegistry = REGISTRY) -> None:
        address = runtime.settings.metrics.address()
        if address is None:
            raise ConfigError("the metrics endpoint is not enabled", where="[metrics] listen",
                              fix='set listen = "127.0.0.1:9710"')
        self.host, self.port = address
        self.registry = registry
        self.backlog = BacklogCollector(runtime.settings.ledger_path)
        self.name = f"metrics http://{self._shown(self.port)}/metrics"
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    def _shown(self, port: int) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{port}"

    def start(self) -> None:
        try:
            server, thread = start_http_server(self.port, self.host, registry=self.registry)
        except OSError as exc:
            raise ConfigError(
                f"cannot listen on {self._shown(self.port)}: {exc.strerror}",
                where="[metrics] listen",
                fix="choose a free port, or stop the process that holds it",
            ) from None
        self.registry.register(self.backlog)
        self._server, self._thread = server, thread
        self.port = server.server_port  # port 0 in tests: the one the system chose
        self.name = f"metrics http://{self._shown(self.port)}/metrics"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
            self.registry.unregister(self.backlog)
        if self._thread is not None:
            self._thread.join(5.0)
            self._thread = None
