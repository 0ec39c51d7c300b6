"""SIGTERM to a real ``prostop serve`` while a message is still being handed to the core: the
process ends within ``shutdown_grace`` (plus start-up of nothing, a small margin), not when the
slow message is done; what was acknowledged before is in the ledger; the slow message gets no
ACK (its sender sends it again)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from prostop_plugin.hl7.reader import read_hl7
from prostop_plugin.hl7.send import MLLPClient, MLLPSendError
from prostop_plugin.keys import KeyRing
from prostop_plugin.ledger import Ledger
from tests.adapters.hl7v2_mllp.helpers import (
    CORPUS,
    REPO,
    corpus_bytes,
    free_port,
    original_mode,
    wait_until,
)
from tests.adapters.hl7v2_mllp.slow_plugin import SLOW_CONTROL_ID

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is not laid out"),
]
SLOW_PLUGIN = "tests.adapters.hl7v2_mllp.slow_plugin"
GRACE = 1.0
#: what the test allows beyond the grace: interpreter exit, closing the runtime (the slow
#: message itself holds the worker for 120 s)
MARGIN = 15.0


def start_serve(root: Path, port: int) -> subprocess.Popen[str]:
    config = root / "prostop.toml"
    config.write_text(
        'data_dir = "var"\n'
        'as_of = "2020-11-20"\n'
        'adapters = ["hl7v2_mllp"]\n'
        "[adapter.hl7v2_mllp]\n"
        f'listen = "127.0.0.1:{port}"\n'
        f'peer = "127.0.0.1:{free_port()}"\n'
        f"shutdown_grace = {GRACE}\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROSTOP_")}
    env.update(PYTHONPATH=str(REPO), PROSTOP_PLUGINS=f'["{SLOW_PLUGIN}"]',
               PROSTOP_TEST_SLOW_MARKER=str(root / "slow"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "prostop_plugin.cli", "--config", str(config), "serve",
         "--tick", "0.2"],
        env=env, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    assert proc.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        seen.append(line)
        if line.startswith("started: MLLP 127.0.0.1:"):
            return proc
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError("prostop serve did not start listening:\n" + "".join(seen))


def test_sigterm_ends_serve_within_the_grace_while_a_message_is_being_evaluated(
    tmp_path: Path,
) -> None:
    port = free_port()
    fast = original_mode(corpus_bytes(), control_id="FAST-1")
    slow = original_mode(corpus_bytes(), control_id=SLOW_CONTROL_ID)
    proc = start_serve(tmp_path, port)
    outcome: list[str] = []

    def send_slow() -> None:
        try:
            with MLLPClient("127.0.0.1", port) as sender:
                outcome.append(sender.exchange(slow, SLOW_CONTROL_ID, timeout=60).code)
        except MLLPSendError as exc:
            outcome.append(exc.what)

    slow_sender = threading.Thread(target=send_slow)
    try:
        with MLLPClient("127.0.0.1", port) as sender:
            assert sender.exchange(fast, "FAST-1", timeout=20).code == "AA"
        slow_sender.start()
        assert wait_until(lambda: (tmp_path / "slow").exists(), timeout=20)
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(GRACE + MARGIN)
        except subprocess.TimeoutExpired:
            pytest.fail(f"prostop serve still running {GRACE + MARGIN} s after SIGTERM, with "
                        f"shutdown_grace = {GRACE}")
        assert code == 0
    finally:
        proc.kill()
        proc.wait(10)
        slow_sender.join(10)
    assert outcome and outcome[0] != "AA", "the slow message was not acknowledged"
    keyring = KeyRing.open(tmp_path / "var" / "keys", create=False)
    ledger = Ledger(tmp_path / "var" / "ledger.sqlite3", keyring)
    try:
        [acknowledged] = read_hl7(fast, "fast.hl7", "hl7v2_mllp")
        assert ledger.has_event(acknowledged), "an acknowledged message was lost"
    finally:
        ledger.close()
