"""Crash safety with real processes: SIGKILL `prostop serve` while it reads the inbox (and
`prostop pending approve` while it writes back), restart, check nothing was lost or doubled.

The ledger is a real SQLite file shared by the successive processes; the simulator runs in
this process and the `prostop` processes reach it over loopback HTTP.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from prostop_plugin.keys import KeyRing
from prostop_plugin.ledger import Ledger
from prostop_plugin.models import IssuanceState
from prostop_plugin.simulator import RunningSimulator
from tests.adapters.filedrop.crash_plugin import KILL_AT_ENV
from tests.adapters.filedrop.helpers import (
    CORPUS_FILES,
    REPO,
    corpus,
    drop,
    files,
    original_names,
    wait_until,
)

pytestmark = pytest.mark.slow


class Site:
    """An installation: prostop.toml with the file-drop adapter allowed, and its folders."""

    def __init__(self, root: Path, simulator: RunningSimulator) -> None:
        self.root = root
        self.inbox, self.outbox = root / "inbox", root / "outbox"
        self.inbox.mkdir()
        self.outbox.mkdir()
        state = root / "inbox-prostop"
        self.processing, self.done = state / "processing", state / "done"
        self.config = root / "prostop.toml"
        self.config.write_text(
            'data_dir = "var"\n'
            "as_of = 2020-11-20\n"
            'adapters = ["filedrop"]\n'
            'plugins = ["tests.adapters.filedrop.crash_plugin"]\n'
            f'[code_service]\nbase_url = "{simulator.base_url}"\n'
            f'[psc]\nissuer = "{simulator.psc_issuer}"\n'
            "[adapter.filedrop]\n"
            f'inbox = "{self.inbox}"\noutbox = "{self.outbox}"\n'
            'write_back_format = "both"\npoll_interval = 0.05\nsettle_seconds = 0.1\n'
        )

    def _env(self, kill_at: str | None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PROSTOP_")}
        env["PYTHONPATH"] = str(REPO)  # the test plugin; the adapter itself is installed
        if kill_at:
            env[KILL_AT_ENV] = kill_at
        return env

    def _command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "prostop_plugin.cli", "--config", str(self.config), *args]

    def serve(self, kill_at: str | None = None) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self._command("serve", "--tick", "0.2"), env=self._env(kill_at), cwd=self.root,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )

    @contextmanager
    def serving(self) -> Iterator[subprocess.Popen[str]]:
        """`prostop serve` until the block ends, then stopped as an admin would (SIGTERM)."""
        process = self.serve()
        try:
            yield process
        finally:
            process.send_signal(signal.SIGTERM)
            out, err = process.communicate(timeout=30)
        assert process.returncode == 0, err
        assert "stopped: file drop" in out

    def run(self, *args: str, kill_at: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self._command(*args), env=self._env(kill_at), cwd=self.root,
                              capture_output=True, text=True, timeout=60)

    @contextmanager
    def ledger(self) -> Iterator[Ledger]:
        keyring = KeyRing.open(self.root / "var" / "keys", create=False)
        ledger = Ledger(self.root / "var" / "ledger.sqlite3", keyring)
        try:
            yield ledger
        finally:
            ledger.close()

    def event_count(self) -> int:
        with self.ledger() as ledger:
            return ledger.event_count()

    def all_done(self, count: int) -> bool:
        return len(files(self.done)) == count and not files(self.inbox) \
            and not files(self.processing)


def killed(process: subprocess.Popen[str]) -> None:
    try:
        _, err = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        raise
    assert process.returncode == -signal.SIGKILL, err


@pytest.mark.parametrize("kill_at", ["before_record", "after_record"])
def test_sigkill_while_reading_the_inbox_then_restart(
    kill_at: str, tmp_path: Path, simulator: RunningSimulator
) -> None:
    site = Site(tmp_path, simulator)
    for name in CORPUS_FILES:
        drop(site.inbox, name, corpus(name))

    killed(site.serve(kill_at=kill_at))
    # the kill came with the first file: claimed, and stored or not; the others wait
    assert len(files(site.processing)) == 1
    assert len(files(site.inbox)) == len(CORPUS_FILES) - 1
    assert files(site.done) == []
    assert site.event_count() == (0 if kill_at == "before_record" else 1)

    with site.serving():
        wait_until(lambda: site.all_done(len(CORPUS_FILES)), timeout=20,
                   what="every file in done/")
    assert original_names(site.done) == sorted(CORPUS_FILES)  # each exactly once
    assert site.event_count() == len(CORPUS_FILES)  # one event per file, none doubled


def test_sigkill_after_writing_back_then_the_retry_replaces_the_files(
    tmp_path: Path, simulator: RunningSimulator
) -> None:
    site = Site(tmp_path, simulator)
    drop(site.inbox, "rtpcr.hpr", corpus("hprim_rtpcr_positif.hpr"))
    with site.serving():
        wait_until(lambda: site.all_done(1), timeout=20, what="the file in done/")
    with site.ledger() as ledger:
        [issuance_id] = ledger.ids_in_states(IssuanceState.AWAITING_CONFIRMATION)

    approval = site.run("pending", "approve", issuance_id, "--practitioner", "10003456789",
                        "--attest-qr-unavailable", kill_at="after_write_back")
    assert approval.returncode == -signal.SIGKILL, approval.stderr
    names = [f"prostop-{issuance_id}.xml", f"prostop-{issuance_id}.hpr"]
    assert sorted(p.name for p in site.outbox.iterdir()) == sorted(names)
    written = {name: (site.outbox / name).read_bytes() for name in names}
    with site.ledger() as ledger:
        assert ledger.get(issuance_id).state == IssuanceState.ISSUED  # receipt not recorded

    with site.serving():  # the worker loop retries the write-back at start
        wait_until(lambda: site.event_count() == 1 and _state(site, issuance_id)
                   == IssuanceState.WRITTEN_BACK, timeout=20, what="written_back")
    assert sorted(p.name for p in site.outbox.iterdir()) == sorted(names)  # replaced, not added
    assert {name: (site.outbox / name).read_bytes() for name in names} == written
    with site.ledger() as ledger:
        stored = ledger.get(issuance_id, with_code=True)
    assert stored.code is not None
    code = stored.code.get_secret_value()
    assert all(code.encode() in data for data in written.values())


def _state(site: Site, issuance_id: str) -> IssuanceState:
    with site.ledger() as ledger:
        return ledger.get(issuance_id).state
