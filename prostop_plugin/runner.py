"""``prostop serve``: run the adapters' background services and the engine's worker loop.

The worker loop is what makes the guarantees hold over time without anyone watching: it
retries write-backs when their backoff is due, expires codes past their validity, and takes
over the work of a process that died mid-step.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType

from prostop_plugin.app import Prostop
from prostop_plugin.hooks import BackgroundService
from prostop_plugin.host_api import resume_once
from prostop_plugin.metrics_service import MetricsService

log = logging.getLogger(__name__)

#: the longest the main thread waits at once between ticks (see :func:`wait_or_stop`)
SIGNAL_CHECK = 0.5


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
        while not wait_or_stop(stop, tick):
            worker_tick(prostop)
    finally:
        for service in reversed(started):
            try:
                service.stop()
            except Exception:
                log.exception("stopping %s failed", service.name)
            announce(f"stopped: {service.name}")


def wait_or_stop(stop: threading.Event, seconds: float) -> bool:
    """Wait up to ``seconds`` for ``stop``; True once it is set.

    In slices of :data:`SIGNAL_CHECK`: the kernel may hand SIGTERM to any thread of the
    process (under strace it often does), and its Python handler, which sets ``stop``, runs
    only once the main thread runs again; one long wait held ``prostop serve`` for the whole
    tick (600 s with ``--tick 600``) after a SIGTERM.
    """
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        if stop.wait(min(left, SIGNAL_CHECK)):
            return True
    return stop.is_set()


def install_stop_signals(stop: threading.Event) -> None:
    def handle(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)
