"""Where a message is read: a small one in the event loop (a message not about COVID-19 is
answered without a thread hand-off), a larger one in a worker; only storing always runs in a
worker. The ACKs are the same either way."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from prostop_hl7v2_mllp.inbound import InboundHandler
from prostop_hl7v2_mllp.server import LOOP_READ_BYTES, MLLPService
from prostop_plugin import Prostop
from tests.adapters.hl7v2_mllp.helpers import (
    GLUCOSE_ORU,
    client_for,
    corpus_bytes,
    with_header,
)

LOOP_THREAD = "prostop-mllp-listener"


@pytest.fixture
def readers(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The name of the thread that read each message, in order."""
    names: list[str] = []
    prepare: Callable[..., Any] = InboundHandler.prepare

    def recording(self: InboundHandler, frame: bytes) -> Any:
        names.append(threading.current_thread().name)
        return prepare(self, frame)

    monkeypatch.setattr(InboundHandler, "prepare", recording)
    return names


def padded(message: bytes, size: int) -> bytes:
    """The message with NTE comments appended until it is over ``size`` bytes (few segments:
    a large document, not thousands of results)."""
    note = b"NTE|1||" + b"x" * 2000 + b"\r"
    while len(message) <= size:
        message += note
    return message


def test_small_messages_are_read_in_the_event_loop_larger_ones_in_a_worker(
    runtime: Prostop, listener: MLLPService, readers: list[str]
) -> None:
    positive = with_header(corpus_bytes(), control_id="LOOP-1", msh15="", msh16="")
    large = with_header(padded(corpus_bytes(), LOOP_READ_BYTES), control_id="LOOP-2",
                        msh15="", msh16="")
    glucose = with_header(GLUCOSE_ORU, msh15="", msh16="")
    with client_for(listener) as client:
        assert client.exchange(glucose, "GLU-0001", timeout=5.0).code == "AA"
        assert client.exchange(positive, "LOOP-1", timeout=5.0).code == "AA"
        assert client.exchange(large, "LOOP-2", timeout=5.0).code == "AA"
    assert readers[:2] == [LOOP_THREAD, LOOP_THREAD]
    assert readers[2].startswith("prostop-mllp-") and readers[2] != LOOP_THREAD
    assert runtime.ledger.event_count() == 2  # both COVID-19 messages stored, glucose not


def test_a_bug_while_reading_in_the_loop_costs_one_AR_and_the_connection_goes_on(
    runtime: Prostop, listener: MLLPService, monkeypatch: pytest.MonkeyPatch
) -> None:
    prepare: Callable[..., Any] = InboundHandler.prepare

    def failing_once(self: InboundHandler, frame: bytes) -> Any:
        if b"BUG-1" in frame:
            raise RuntimeError("a bug in a reader")
        return prepare(self, frame)

    monkeypatch.setattr(InboundHandler, "prepare", failing_once)
    with client_for(listener) as client:
        first = client.exchange(with_header(GLUCOSE_ORU, control_id="BUG-1", msh15="",
                                            msh16=""), "BUG-1", timeout=5.0)
        second = client.exchange(with_header(GLUCOSE_ORU, control_id="BUG-2", msh15="",
                                             msh16=""), "BUG-2", timeout=5.0)
    assert first.code == "AR"
    assert second.code == "AA"
