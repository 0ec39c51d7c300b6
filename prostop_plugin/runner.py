"""``prostop serve``: run the adapters' background services and the engine's worker loop.

The worker loop is what makes the guarantees hold over time without anyone watching: it
retries write-backs when their backoff is due, expires codes past their validity, and takes
over the work of a process that died mid-step.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType

from prostop_plugin.app import Prostop
from prostop_plugin.hooks import BackgroundService
from prostop_plugin.host_api import resume_once
from prostop_plugin.metrics_service import MetricsService

log = logging.getLogger(__name__)


def worker_tick(prostop: Prostop) -> None:
    resume_once(prostop.engine, "worker")


def announce_now(line: str) -> None:
    """Status lines reach a supervisor's log at once, even when stdout is a pipe."""
    print(line, flush=True)


def serve(
    prostop: Prostop, stop: threading.Event, *, tick: float = 5.0,
    announce: Callable[[str], None] = announce_now,
) -> None:
    """Start every service, then tick the worker until ``stop`` is set; stop services after."""
    services = prostop.hooks.background_services(prostop)
    if prostop.settings.console.enabled:
        from prostop_plugin.console import ConsoleService  # the web stack, only when asked

        services.append(ConsoleService(prostop))
    if prostop.settings.metrics.listen is not None:
        services.append(MetricsService(prostop))
    started: list[BackgroundService] = []
    try:
        for service in services:
            service.start()
            started.append(service)
            announce(f"started: {service.name}")
        if not services:
            announce("no adapter service configured (see 'adapters' in prostop.toml); "
                     "running the worker loop only")
        announce("prostop serving — Ctrl-C to stop")
        worker_tick(prostop)
        while not stop.wait(tick):
            worker_tick(prostop)
    finally:
        for service in reversed(started):
            try:
                service.stop()
            except Exception:
                log.exception("stopping %s failed", service.name)
            announce(f"stopped: {service.name}")


def install_stop_signals(stop: threading.Event) -> None:
    def handle(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)
