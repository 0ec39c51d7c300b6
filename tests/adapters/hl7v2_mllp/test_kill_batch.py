"""SIGKILL in the middle of group commits: a real ``prostop serve`` receiving from 8 MLLP
connections at once is killed while batches are being written. Every message that got its
ACK is in the ledger; the ones without an ACK are sent again to the restarted server and
stored once; the audit matches the ledger."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from prostop_plugin.config import Settings
from prostop_plugin.hl7.er7 import parse
from prostop_plugin.hl7.mapping import map_message
from prostop_plugin.hl7.send import MLLPClient, MLLPSendError
from prostop_plugin.issuance.trail import open_trail
from tests.adapters.hl7v2_mllp.helpers import CORPUS, corpus_bytes, free_port, original_mode
from tests.adapters.hl7v2_mllp.test_kill import Server

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is not laid out"),
]
CONNECTIONS = 8
KILL_AFTER = 60  # ACKs received before the kill


def message(n: int) -> bytes:
    """The positive ORU with its own MSH-10 and its own patient."""
    nir = 2800133000000 + n
    ins = b"%13d%02d" % (nir, 97 - nir % 97)
    return (original_mode(corpus_bytes(), f"KILL-{n:05d}")
            .replace(b"280013306312376", ins).replace(b"DOS-4411", b"DOS-K%d" % n))


class Sender(threading.Thread):
    """One connection sending its messages one after the other until the server is gone."""

    def __init__(self, index: int, port: int, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.index, self.port, self.stop = index, port, stop
        self.acked: list[bytes] = []
        self.unanswered: bytes | None = None
        self.counter = index

    def run(self) -> None:
        try:
            with MLLPClient("127.0.0.1", self.port) as client:
                while not self.stop.is_set():
                    data = message(self.counter)
                    self.unanswered = data
                    reply = client.exchange(data, f"KILL-{self.counter:05d}", timeout=30)
                    assert reply.code == "AA", reply
                    self.acked.append(data)
                    self.unanswered = None
                    self.counter += CONNECTIONS
        except (MLLPSendError, OSError):
            pass  # the server was killed: self.unanswered never got its ACK


def stored(settings: Settings, messages: list[bytes]) -> list[bool]:
    trail = open_trail(settings)
    try:
        return [all(trail.ledger.has_event(event) for event in
                    map_message(parse(data), adapter="hl7v2_mllp", raw=data).events)
                for data in messages]
    finally:
        trail.ledger.close()


def test_sigkill_mid_batch_loses_no_acknowledged_message(tmp_path: Path) -> None:
    port = free_port()
    server = Server(tmp_path, port)
    (tmp_path / "killed").write_text("")  # the kill plugin stays quiet: the test kills
    settings = Settings(data_dir=tmp_path / "var")
    server.start()
    stop = threading.Event()
    senders = [Sender(i, port, stop) for i in range(CONNECTIONS)]
    for sender in senders:
        sender.start()
    for _ in range(6000):
        if sum(len(s.acked) for s in senders) >= KILL_AFTER:
            break
        stop.wait(0.01)
    assert server.proc is not None
    server.proc.kill()  # SIGKILL, while the senders keep sending
    assert server.wait() != 0
    stop.set()
    for sender in senders:
        sender.join(30)

    acked = [data for s in senders for data in s.acked]
    unanswered = [s.unanswered for s in senders if s.unanswered is not None]
    assert len(acked) >= KILL_AFTER and unanswered, "killed while messages were in flight"
    assert all(stored(settings, acked)), "a message was acknowledged before it was durable"

    server.start()
    try:
        with MLLPClient("127.0.0.1", port) as client:
            for data in [*unanswered, *acked[:5]]:  # the lost ACKs, and a few resent anyway
                reply = client.exchange(data, parse(data).control_id, timeout=30)
                assert reply.code == "AA", reply
    finally:
        assert server.terminate() == 0
    assert all(stored(settings, [*acked, *unanswered]))
    events, issuances = server.ledger_counts()
    assert events == issuances == len(acked) + len(unanswered), "each message stored once"
    trail = open_trail(settings)
    try:
        result = trail.verify()
        assert result.ok, result.problem
    finally:
        trail.ledger.close()
