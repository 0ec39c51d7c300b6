"""Crash safety with real processes: SIGKILL `prostop` at every state boundary, restart, check.

After each kill and a restart: no event lost, no episode with two codes recorded, and every
code received is written back (or visibly pending). The code service is the simulator over
real loopback HTTP; the ledger is a real SQLite file shared by the successive processes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from prostop_plugin.config import Settings
from prostop_plugin.issuance.trail import open_trail
from prostop_plugin.keys import KeyRing
from prostop_plugin.ledger import Ledger
from prostop_plugin.simulator.options import SimulatorOptions
from prostop_plugin.simulator.server import RunningSimulator, run_in_thread
from tests.fixtures.builders import rtpcr_event
from tests.paths import REPO

pytestmark = pytest.mark.slow
GENERATE = "/api/v1/generate/short"


@pytest.fixture(scope="module")
def simulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSimulator]:
    log = tmp_path_factory.mktemp("sim") / "requests.jsonl"
    with run_in_thread(SimulatorOptions(request_log=log, ciba_interval=0.05)) as sim:
        yield sim


def generate_calls(simulator: RunningSimulator) -> int:
    log = simulator.state.options.request_log
    assert log is not None
    lines = log.read_text().splitlines() if log.exists() else []
    return sum(1 for line in lines if json.loads(line).get("path") == GENERATE)


class Installation:
    """A prostop.toml, an event file, and a way to run `prostop` as a separate process."""

    def __init__(self, root: Path, simulator: RunningSimulator) -> None:
        self.root = root
        self.host_dir = root / "host-record"
        self.host_dir.mkdir()
        self.config = root / "prostop.toml"
        self.config.write_text(
            'data_dir = "var"\n'
            'plugins = ["tests.fixtures.crash_plugin"]\n'
            f'[code_service]\nbase_url = "{simulator.base_url}"\n'
            f'[psc]\nissuer = "{simulator.psc_issuer}"\n'
        )
        event = rtpcr_event(when=datetime.now(UTC) - timedelta(hours=1),
                            message_id="LG-CRASH-1", adapter="crash-test-host")
        self.event_file = root / "event.json"
        self.event_file.write_text(event.model_dump_json())

    def run(self, *args: str, kill_at: str | None = None) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PROSTOP_")}
        env.update(PYTHONPATH=str(REPO), PROSTOP_DISABLE_PLUGIN_AUTOLOAD="1",
                   PROSTOP_TEST_HOST_DIR=str(self.host_dir))
        if kill_at:
            env["PROSTOP_TEST_KILL_AT"] = kill_at
        return subprocess.run(
            [sys.executable, "-m", "prostop_plugin.cli", "--config", str(self.config), *args],
            env=env, capture_output=True, text=True, timeout=60, cwd=self.root,
        )

    def status(self) -> list[dict[str, Any]]:
        """What `prostop status --json` shows, read in this process (one process less)."""
        keyring = KeyRing.open(self.root / "var" / "keys", create=False)
        ledger = Ledger(self.root / "var" / "ledger.sqlite3", keyring)
        try:
            return [
                {"id": s.id, "state": s.state.value, "code_last2": s.code_last2}
                for s in ledger.summaries()
            ]
        finally:
            ledger.close()

    def audit_ok(self) -> bool:
        """The chain intact and every transition of the ledger audited, even across kills."""
        trail = open_trail(Settings(data_dir=self.root / "var"))
        try:
            result = trail.verify()
            assert result.ok, result.problem
            return result.ok
        finally:
            trail.ledger.close()

    def approve(
        self, issuance_id: str, kill_at: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return self.run("pending", "approve", issuance_id, "--practitioner", "10003456789",
                        "--attest-qr-unavailable", kill_at=kill_at)


BEFORE_APPROVAL = ["received", "awaiting_confirmation"]
AFTER_APPROVAL = [
    "approved", "issuing", "after_generate", "issued", "during_write_back", "written_back",
]


@pytest.mark.parametrize("kill_at", BEFORE_APPROVAL + AFTER_APPROVAL)
def test_sigkill_at_every_state_boundary_then_restart(
    kill_at: str, tmp_path: Path, simulator: RunningSimulator
) -> None:
    site = Installation(tmp_path, simulator)
    calls_before = generate_calls(simulator)

    submitted = site.run("submit", str(site.event_file), kill_at=kill_at
                         if kill_at in BEFORE_APPROVAL else None)
    if kill_at in BEFORE_APPROVAL:
        assert submitted.returncode == -signal.SIGKILL, submitted.stderr
        # the sender never got an answer: it sends again, as an interface engine would
        resent = site.run("submit", str(site.event_file))
        assert resent.returncode == 0, resent.stderr
    else:
        assert submitted.returncode == 0, submitted.stderr
    rows = site.status()
    assert len(rows) == 1, "the event was stored exactly once"
    issuance_id = rows[0]["id"]
    assert rows[0]["state"] == "awaiting_confirmation"

    if kill_at in AFTER_APPROVAL:
        killed = site.approve(issuance_id, kill_at=kill_at)
        assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
        resumed = site.run("resume")
        assert resumed.returncode == 0, resumed.stderr
    else:
        approved = site.approve(issuance_id)
        assert approved.returncode == 0, approved.stderr

    rows = site.status()
    assert len(rows) == 1
    assert rows[0]["state"] == "written_back", rows[0]
    written = list(site.host_dir.glob("*.json"))
    assert len(written) == 1, "exactly one code reached the patient record"
    code = json.loads(written[0].read_text())["code"]
    assert rows[0]["code_last2"] == code[-2:]
    # the service was asked once; a crash after it answered leaves one orphan, which expires
    asked = generate_calls(simulator) - calls_before
    assert asked == (2 if kill_at == "after_generate" else 1)
    assert site.audit_ok()
    assert code not in (tmp_path / "var" / "ledger.sqlite3").read_bytes().decode("latin-1")
