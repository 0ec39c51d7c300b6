"""SIGTERM to a real ``prostop serve`` while a message is still being handed to the core: the
process ends within ``shutdown_grace`` (plus start-up of nothing, a small margin), not when the
slow message is done; what was acknowledged before is in the ledger; the slow message gets no
ACK (its sender sends it again)."""

from __future__ import annotations

import signal
import subprocess
import threading
from pathlib import Path

import pytest

from prostop_plugin.hl7.reader import read_hl7
from prostop_plugin.hl7.send import MLLPClient, MLLPSendError
from tests.adapters.hl7v2_mllp.helpers import (
    CORPUS,
    corpus_bytes,
    free_port,
    original_mode,
    wait_until,
)
from tests.adapters.hl7v2_mllp.serve import opened_ledger, start_serve, write_config
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


def test_sigterm_ends_serve_within_the_grace_while_a_message_is_being_evaluated(
    tmp_path: Path,
) -> None:
    port = free_port()
    fast = original_mode(corpus_bytes(), control_id="FAST-1")
    slow = original_mode(corpus_bytes(), control_id=SLOW_CONTROL_ID)
    write_config(tmp_path, port, f"shutdown_grace = {GRACE}\n")
    proc = start_serve(tmp_path, SLOW_PLUGIN, PROSTOP_TEST_SLOW_MARKER=str(tmp_path / "slow"))
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
    with opened_ledger(tmp_path) as ledger:
        [acknowledged] = read_hl7(fast, "fast.hl7", "hl7v2_mllp")
        assert ledger.has_event(acknowledged), "an acknowledged message was lost"
