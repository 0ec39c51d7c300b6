"""Senders that hold the listener: trickling a frame byte by byte, filling every connection
slot with silence, flooding it with very large messages. Real sockets on 127.0.0.1, small
timeouts set in the settings, bounded loops."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading

import pytest

from prostop_hl7v2_mllp.server import LARGE_MESSAGE_SEGMENTS, MLLPService
from prostop_plugin.app import Prostop
from prostop_plugin.hl7.mllp import encode_frame
from prostop_plugin.hl7.send import MLLPClient, MLLPSendError
from prostop_plugin.models import DiagnosisEvent, IssuanceRecord
from tests.adapters.hl7v2_mllp.conftest import mllp_section
from tests.adapters.hl7v2_mllp.helpers import (
    CORPUS,
    GLUCOSE_ORU,
    RawConnection,
    corpus_bytes,
    original_mode,
    wait_until,
)

needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is not laid out")


def trickle_until_closed(port: int, first: bytes, rounds: int, pause: float) -> bool:
    """Start a frame with ``first``, then send one more byte every ``pause`` seconds, for at
    most ``rounds`` bytes; True when the server closed the connection meanwhile."""
    with socket.create_connection(("127.0.0.1", port), timeout=5.0) as sock:
        sock.sendall(first)
        sock.settimeout(pause)
        for _ in range(rounds):
            try:
                if sock.recv(4096) == b"":
                    return True
            except TimeoutError:
                pass
            except ConnectionResetError:
                return True
            try:
                sock.sendall(b"A")
            except (BrokenPipeError, ConnectionResetError):
                return True
    return False


@pytest.mark.parametrize("section", [mllp_section(frame_timeout=0.5, idle_timeout=30.0)])
def test_a_frame_trickled_byte_by_byte_is_cut_off_by_frame_timeout(
    listener: MLLPService, caplog: pytest.LogCaptureFixture
) -> None:
    # 0.1 s between bytes, far below idle_timeout: only the frame's own time limit can end it
    assert trickle_until_closed(listener.port, b"\x0bMSH|^~\\&|", rounds=100, pause=0.1)
    assert "still not complete (frame_timeout)" in caplog.text
    assert wait_until(lambda: listener.connection_count == 0)
    with MLLPClient("127.0.0.1", listener.port, connect_timeout=2.0) as client:
        assert client.exchange(GLUCOSE_ORU, "GLU-0001", timeout=5.0).code == "AA"


@pytest.mark.parametrize("section", [mllp_section(frame_timeout=2.0, idle_timeout=30.0)])
def test_a_frame_sent_in_pieces_within_frame_timeout_is_answered(listener: MLLPService) -> None:
    conn = RawConnection(listener.port)
    try:
        framed = b"\x0b" + GLUCOSE_ORU + b"\x1c\r"
        for index in range(0, len(framed), 40):
            conn.send(framed[index:index + 40])
        assert conn.read_ack().code == "AA"
        conn.send(framed)  # the next frame has its own time
        assert conn.read_ack().code == "AA"
    finally:
        conn.close()


@pytest.mark.parametrize("section", [mllp_section(max_connections=4, idle_timeout=60.0)])
def test_silent_connections_filling_every_slot_make_room_for_a_new_sender(
    listener: MLLPService, caplog: pytest.LogCaptureFixture
) -> None:
    silent = [RawConnection(listener.port) for _ in range(4)]
    senders: list[RawConnection] = []
    try:
        assert wait_until(lambda: listener.connection_count == 4)
        for _ in range(3):  # well-formed senders keep getting in, each one closing the idlest
            senders.append(RawConnection(listener.port))
            senders[-1].send_message(GLUCOSE_ORU)
            assert senders[-1].read_ack().code == "AA"
        assert [conn.closed_by_peer(timeout=5.0) for conn in silent[:3]] == [True] * 3
        assert listener.connection_count == 4
        for conn in senders:  # still served
            conn.send_message(GLUCOSE_ORU)
            assert conn.read_ack().code == "AA"
    finally:
        for conn in silent + senders:
            conn.close()
    assert "to serve a new one from 127.0.0.1:" in caplog.text
    assert "DUPONT" not in caplog.text and "GLU-0001" not in caplog.text


@pytest.mark.parametrize("section", [mllp_section(frame_timeout=0.5, idle_timeout=60.0)])
def test_a_sender_that_never_reads_its_acks_is_disconnected(
    listener: MLLPService, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    frame = encode_frame(b"not HL7")  # cheap to read, answered by a long AE
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)  # ACKs pile up quickly
        sock.connect(("127.0.0.1", listener.port))
        sock.settimeout(0.5)
        with contextlib.suppress(OSError):  # the server may close while we still send
            for _ in range(20_000):  # pipelined, never reading an ACK
                sock.sendall(frame)
        assert wait_until(lambda: listener.connection_count == 0, timeout=30)
    assert "has not read its ACKs for 0.5 s (frame_timeout)" in caplog.text


def large_message(control_id: str) -> bytes:
    """A COVID-19 result with many comment segments: "large" by its segment count."""
    data = original_mode(corpus_bytes(), control_id=control_id)
    notes = b"".join(b"NTE|%d||comment\r" % n for n in range(2, LARGE_MESSAGE_SEGMENTS + 2))
    return data + notes


@needs_corpus
@pytest.mark.parametrize("section", [mllp_section(workers=2)])
def test_large_messages_on_every_worker_do_not_starve_a_small_one(
    runtime: Prostop, listener: MLLPService, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = runtime.hooks.diagnosis_recorded
    release = threading.Event()
    entered = threading.Semaphore(0)

    def slow_for_large(event: DiagnosisEvent) -> IssuanceRecord | None:
        if (event.source.message_id or "").startswith("BIG-"):  # a slow evaluation
            entered.release()
            release.wait(30)
        return real(event)

    monkeypatch.setattr(runtime.hooks, "diagnosis_recorded", slow_for_large)
    replies: dict[str, str] = {}

    def send(control_id: str, data: bytes) -> None:
        try:
            with MLLPClient("127.0.0.1", listener.port, connect_timeout=2.0) as client:
                replies[control_id] = client.exchange(data, control_id, timeout=40.0).code
        except MLLPSendError as exc:
            replies[control_id] = exc.what

    big = [threading.Thread(target=send, args=(f"BIG-{n}", large_message(f"BIG-{n}")))
           for n in range(3)]
    try:
        for thread in big:
            thread.start()
        assert entered.acquire(timeout=10)  # one large message is being evaluated
        with MLLPClient("127.0.0.1", listener.port, connect_timeout=2.0) as client:
            small = original_mode(corpus_bytes(CORPUS / "oru_antigen_positive.hl7"),
                                  control_id="SMALL-1")
            # the large ones are all still held: this ACK comes from the worker kept free
            assert client.exchange(small, "SMALL-1", timeout=10.0).code == "AA"
        assert not release.is_set()
    finally:
        release.set()
        for thread in big:
            thread.join(60)
    assert replies == {"BIG-0": "AA", "BIG-1": "AA", "BIG-2": "AA"}
