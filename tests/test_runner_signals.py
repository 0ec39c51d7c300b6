"""``prostop serve`` stops on SIGTERM even when the kernel hands the signal to another of its
threads (its Python handler runs only once the main thread runs again)."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from prostop_plugin.app import Prostop
from prostop_plugin.runner import install_stop_signals, serve
from tests.fixtures.builders import settings_for


@pytest.fixture
def restored_signals() -> Iterator[None]:
    handlers = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    yield
    for number, handler in handlers.items():
        signal.signal(number, handler)


def test_sigterm_received_by_another_thread_stops_serve(
    tmp_path: Path, restored_signals: None
) -> None:
    stop, hung = threading.Event(), threading.Event()
    install_stop_signals(stop)

    def terminate_from_here() -> None:
        # a process-directed signal delivered to this thread, as the kernel may do
        signal.pthread_kill(threading.get_ident(), signal.SIGTERM)

    def watchdog() -> None:  # the test ends either way
        if not stop.wait(30):
            hung.set()
            stop.set()

    with Prostop.open(settings_for(tmp_path)) as prostop:
        threading.Timer(0.5, terminate_from_here).start()
        threading.Thread(target=watchdog, daemon=True).start()
        serve(prostop, stop, tick=600, announce=lambda line: None)
    assert not hung.is_set(), "serve waited out its tick after SIGTERM"
