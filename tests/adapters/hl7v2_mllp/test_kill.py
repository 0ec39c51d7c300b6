"""A real ``prostop serve`` with the adapter loaded from its entry point, SIGKILLed between
receiving a message and acknowledging it: the sender gets no ACK, sends again to the restarted
server, gets AA, and the ledger holds the message once."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from prostop_plugin.hl7.send import MLLPClient, MLLPSendError
from tests.adapters.hl7v2_mllp.helpers import CORPUS, corpus_bytes, free_port, original_mode
from tests.adapters.hl7v2_mllp.serve import opened_ledger, start_serve, write_config

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is not laid out"),
]
KILL_PLUGIN = "tests.adapters.hl7v2_mllp.kill_plugin"


class Server:
    """``prostop serve`` in its own process, started and waited for until it listens."""

    def __init__(self, root: Path, port: int) -> None:
        self.root = root
        self.config = write_config(root, port)
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        self.proc = start_serve(self.root, KILL_PLUGIN,
                                PROSTOP_TEST_KILL_MARKER=str(self.root / "killed"))

    def wait(self, timeout: float = 20) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def terminate(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(20)
        finally:
            self.proc.kill()

    def ledger_counts(self) -> tuple[int, int]:
        with opened_ledger(self.root) as ledger:
            return ledger.event_count(), len(ledger.summaries())


def test_sigkill_between_receive_and_ack_then_resend(tmp_path: Path) -> None:
    port = free_port()
    server = Server(tmp_path, port)
    message = original_mode(corpus_bytes())

    server.start()
    with pytest.raises(MLLPSendError, match=r"without an ACK|connection lost"), \
            MLLPClient("127.0.0.1", port) as sender:
        sender.exchange(message, "LG20201119-0001", timeout=20)
    assert server.wait() == -signal.SIGKILL
    assert (tmp_path / "killed").exists(), "killed after the event was committed"
    assert server.ledger_counts() == (1, 1), "the event was durable before the (lost) ACK"

    server.start()
    try:
        with MLLPClient("127.0.0.1", port) as sender:
            reply = sender.exchange(message, "LG20201119-0001", timeout=20)
        assert (reply.code, reply.control_id) == ("AA", "LG20201119-0001")
    finally:
        assert server.terminate() == 0
    assert server.ledger_counts() == (1, 1), "the resend was recognised, not stored twice"
