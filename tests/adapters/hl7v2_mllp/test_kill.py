"""A real ``prostop serve`` with the adapter loaded from its entry point, SIGKILLed between
receiving a message and acknowledging it: the sender gets no ACK, sends again to the restarted
server, gets AA, and the ledger holds the message once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from prostop_plugin.hl7.send import MLLPClient, MLLPSendError
from prostop_plugin.keys import KeyRing
from prostop_plugin.ledger import Ledger
from tests.adapters.hl7v2_mllp.helpers import (
    CORPUS,
    REPO,
    corpus_bytes,
    free_port,
    original_mode,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is not laid out"),
]
KILL_PLUGIN = "tests.adapters.hl7v2_mllp.kill_plugin"


class Server:
    """``prostop serve`` in its own process, started and waited for until it listens."""

    def __init__(self, root: Path, port: int) -> None:
        self.root = root
        self.config = root / "prostop.toml"
        self.config.write_text(
            'data_dir = "var"\n'
            'as_of = "2020-11-20"\n'
            'adapters = ["hl7v2_mllp"]\n'
            "[adapter.hl7v2_mllp]\n"
            f'listen = "127.0.0.1:{port}"\n'
            f'peer = "127.0.0.1:{free_port()}"\n'
        )
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        # the parent's PROSTOP_DISABLE_PLUGIN_AUTOLOAD goes: the adapter loads by entry point
        env = {k: v for k, v in os.environ.items() if not k.startswith("PROSTOP_")}
        env.update(PYTHONPATH=str(REPO), PROSTOP_PLUGINS=f'["{KILL_PLUGIN}"]',
                   PROSTOP_TEST_KILL_MARKER=str(self.root / "killed"))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "prostop_plugin.cli", "--config", str(self.config),
             "serve", "--tick", "0.2"],
            env=env, cwd=self.root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        assert self.proc.stdout is not None
        deadline = time.monotonic() + 30
        seen: list[str] = []
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            seen.append(line)
            if line.startswith("started: MLLP 127.0.0.1:"):
                return
            if not line and self.proc.poll() is not None:
                break
        self.proc.kill()
        raise AssertionError("prostop serve did not start listening:\n" + "".join(seen))

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
        keyring = KeyRing.open(self.root / "var" / "keys", create=False)
        ledger = Ledger(self.root / "var" / "ledger.sqlite3", keyring)
        try:
            return ledger.event_count(), len(ledger.summaries())
        finally:
            ledger.close()


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
