"""Three ``prostop serve`` workers on one PostgreSQL ledger.

1,000 ORU^R01 (400 patients: most have several messages, sent to different workers) arrive
over MLLP on the three workers at once; one worker is SIGKILLed mid-stream and restarted, its
senders sending again what got no ACK. Then two processes race to approve the same requests.
Every ACKed message is stored, each once; each episode has exactly one issuance and at most
one code (exactly one where approved, the code service asked once); ``audit verify`` is clean.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from prostop_plugin.config import Settings
from prostop_plugin.hl7.er7 import parse
from prostop_plugin.hl7.mapping import map_message
from prostop_plugin.hl7.send import MLLPClient, MLLPSendError
from prostop_plugin.issuance.trail import open_trail
from prostop_plugin.keys import KeyRing
from prostop_plugin.models import IssuanceState
from prostop_plugin.simulator import RunningSimulator
from tests.adapters.hl7v2_mllp.helpers import CORPUS, REPO, corpus_bytes, free_port, original_mode

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is not laid out"),
]
MESSAGES = 1000
PATIENTS = 400
SENDERS_PER_WORKER = 2
KILL_AFTER = 300  # ACKs in all before worker 1 is killed
APPROVALS = 12
GENERATE = "/api/v1/generate/short"


def message(n: int) -> bytes:
    patient = n % PATIENTS
    nir = 2800134000000 + patient
    ins = b"%13d%02d" % (nir, 97 - nir % 97)
    return (original_mode(corpus_bytes(), f"MW-{n:05d}")
            .replace(b"280013306312376", ins).replace(b"DOS-4411", b"DOS-W%d" % patient))


class Worker:
    def __init__(self, root: Path, index: int, url: str, simulator: RunningSimulator) -> None:
        self.port = free_port()
        self.config = root / f"worker{index}.toml"
        self.config.write_text(
            'data_dir = "var"\nas_of = "2020-11-20"\nadapters = ["hl7v2_mllp"]\n'
            f'data_url = "{url}"\n'
            f'[code_service]\nbase_url = "{simulator.base_url}"\n'
            f'[psc]\nissuer = "{simulator.psc_issuer}"\n'
            f'[adapter.hl7v2_mllp]\nlisten = "127.0.0.1:{self.port}"\nworkers = 2\n'
        )
        self.root = root
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PROSTOP_")}
        env["PYTHONPATH"] = str(REPO)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "prostop_plugin.cli", "--config", str(self.config), "serve",
             "--tick", "1"], env=env, cwd=self.root, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True)

    def wait_listening(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        seen = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            seen.append(line)
            if "serving" in line:
                threading.Thread(target=self.proc.stdout.read, daemon=True).start()  # drain
                return
            if not line and self.proc.poll() is not None:
                break
        self.proc.kill()
        raise AssertionError("worker did not start:\n" + "".join(seen))

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class Sender(threading.Thread):
    """Sends its messages to one worker in order; on a lost connection, waits for the worker
    to be back (bounded) and sends again what got no ACK."""

    def __init__(self, worker: Worker, numbers: list[int], acked: list[int]) -> None:
        super().__init__(daemon=True)
        self.worker, self.numbers, self.acked = worker, numbers, acked
        self.failure: str | None = None

    def run(self) -> None:
        pending = list(self.numbers)
        deadline = time.monotonic() + 240
        while pending and time.monotonic() < deadline:
            try:
                with MLLPClient("127.0.0.1", self.worker.port) as client:
                    while pending:
                        n = pending[0]
                        reply = client.exchange(message(n), f"MW-{n:05d}", timeout=60)
                        if reply.code != "AA":
                            self.failure = f"MW-{n:05d}: {reply.code}"
                            return
                        self.acked.append(n)
                        pending.pop(0)
            except (MLLPSendError, OSError):
                time.sleep(0.1)  # the worker is down: try again until it is back
        if pending:
            self.failure = f"{len(pending)} messages never acknowledged"


def generate_calls(simulator: RunningSimulator) -> int:
    log = simulator.state.options.request_log
    assert log is not None
    lines = log.read_text().splitlines() if log.exists() else []
    return sum(1 for line in lines if json.loads(line).get("path") == GENERATE)


@pytest.fixture
def logged_simulator(tmp_path: Path) -> Iterator[RunningSimulator]:
    from prostop_plugin.simulator.options import SimulatorOptions
    from prostop_plugin.simulator.server import run_in_thread

    with run_in_thread(SimulatorOptions(request_log=tmp_path / "requests.jsonl",
                                        ciba_interval=0.05)) as sim:
        yield sim


def test_three_workers_one_postgres_ledger_a_kill_and_racing_approvals(
    tmp_path: Path, postgres_url: str, logged_simulator: RunningSimulator
) -> None:
    simulator = logged_simulator
    KeyRing.open(tmp_path / "var" / "keys")  # one key ring for the three
    workers = [Worker(tmp_path, i, postgres_url, simulator) for i in range(3)]
    try:
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.wait_listening()
        acked: list[int] = []
        senders = [
            Sender(workers[i % 3], list(range(i, MESSAGES, 3 * SENDERS_PER_WORKER)), acked)
            for i in range(3 * SENDERS_PER_WORKER)
        ]
        for sender in senders:
            sender.start()
        while len(acked) < KILL_AFTER and any(s.is_alive() for s in senders):
            time.sleep(0.01)
        victim = workers[1]
        assert victim.proc is not None
        victim.proc.kill()  # SIGKILL mid-stream
        victim.proc.wait(30)
        victim.start()
        victim.wait_listening()
        for sender in senders:
            sender.join(300)
        assert [s.failure for s in senders if s.failure] == []
        assert sorted(acked) == list(range(MESSAGES)), "every message acknowledged once"

        settings = Settings(data_dir=tmp_path / "var", data_url=postgres_url)
        trail = open_trail(settings)
        ledger = trail.ledger
        try:
            for n in range(MESSAGES):
                data = message(n)
                events = map_message(parse(data), adapter="hl7v2_mllp", raw=data).events
                assert all(ledger.has_event(e) for e in events), f"MW-{n:05d} not stored"
            assert ledger.event_count() == MESSAGES, "each message stored once"
            episodes = ledger.query(
                "SELECT patient_key, count(*) AS n FROM issuances GROUP BY patient_key")
            assert len(episodes) == PATIENTS and {r["n"] for r in episodes} == {1}
            waiting = ledger.ids_in_states(IssuanceState.AWAITING_CONFIRMATION)
        finally:
            ledger.close()
        assert len(waiting) == PATIENTS
        chosen = waiting[:APPROVALS]

        calls_before = generate_calls(simulator)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PROSTOP_")}
        env["PYTHONPATH"] = str(REPO)
        racers = [subprocess.Popen(
            [sys.executable, "-m", "tests.fixtures.approve_many", str(workers[0].config),
             *order], env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True) for order in (chosen, chosen[::-1])]
        outcomes = []
        for racer in racers:
            out, err = racer.communicate(timeout=300)
            assert racer.returncode == 0, err
            outcomes += [json.loads(line) for line in out.splitlines()]
        won = [o["id"] for o in outcomes if "state" in o]
        assert sorted(won) == sorted(chosen), outcomes  # each approved by exactly one racer
        assert generate_calls(simulator) - calls_before == APPROVALS, "one code per episode"
    finally:
        for worker in workers:
            worker.stop()

    trail = open_trail(Settings(data_dir=tmp_path / "var", data_url=postgres_url))
    try:
        holding = trail.ledger.query(
            "SELECT episode, count(*) AS n FROM issuances WHERE code_digest IS NOT NULL "
            "GROUP BY episode")
        assert len(holding) == APPROVALS and {r["n"] for r in holding} == {1}
        result = trail.verify()
        assert result.ok, result.problem
    finally:
        trail.ledger.close()
