"""SIGKILL between fetching a message and marking it handled, with real processes: `prostop
serve` is killed right after the ledger stored the message's event; the message is still
unmarked in Dovecot; the next `prostop serve` reads it again, the ledger recognises the event,
and only then is the message marked. Nothing lost, nothing counted twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from prostop_plugin.keys import KeyRing
from prostop_plugin.ledger import Ledger
from prostop_plugin.simulator import RunningSimulator
from prostop_plugin.simulator.pki import Pki
from tests.adapters.mssante.helpers import (
    APP_ADDRESS,
    CRBIO,
    RPPS,
    corpus,
    deliver,
    folder_messages,
    lab_message,
    lab_package,
)
from tests.adapters.mssante.kill_plugin import KILL_ENV
from tests.adapters.mssante.servers import PASSWORD, Dovecot
from tests.paths import REPO

pytestmark = pytest.mark.slow


def write_config(root: Path, dovecot: Dovecot, pki: Pki, simulator: RunningSimulator) -> Path:
    config = root / "prostop.toml"
    config.write_text(
        'data_dir = "var"\nas_of = 2020-11-20\nadapters = ["mssante"]\n'
        'plugins = ["tests.adapters.mssante.kill_plugin"]\n'
        f'[code_service]\nbase_url = "{simulator.base_url}"\n'
        f'[psc]\nissuer = "{simulator.psc_issuer}"\n'
        "[adapter.mssante]\n"
        f'address = "{APP_ADDRESS}"\npassword = "{PASSWORD}"\nca_file = "{pki.ca}"\n'
        f'client_cert_file = "{pki.client_cert}"\nclient_key_file = "{pki.client_key}"\n'
        f'imap_host = "127.0.0.1"\nimap_port = {dovecot.port}\n'
        'smtp_host = "127.0.0.1"\npoll_interval = 0.1\n'
        f'recipients = {{ "{RPPS}" = "claire.durand@medecin.mssante.fr" }}\n'
    )
    return config


def serve(config: Path, kill: str | None) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROSTOP_")}
    env["PYTHONPATH"] = str(REPO)  # the test plugin; the adapter itself is installed
    if kill:
        env[KILL_ENV] = kill
    return subprocess.Popen(
        [sys.executable, "-m", "prostop_plugin.cli", "--config", str(config), "serve",
         "--tick", "0.2"],
        env=env, cwd=config.parent, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def event_count(root: Path) -> int:
    ledger = Ledger(root / "var" / "ledger.sqlite3",
                    KeyRing.open(root / "var" / "keys", create=False))
    try:
        return ledger.event_count()
    finally:
        ledger.close()


def test_sigkill_between_recording_and_marking_loses_nothing(
    tmp_path: Path, dovecot: Dovecot, pki: Pki, simulator: RunningSimulator
) -> None:
    config = write_config(tmp_path, dovecot, pki, simulator)
    deliver(dovecot, pki, lab_message(lab_package(corpus(CRBIO))))

    first = serve(config, kill="after_record")
    try:
        _, err = first.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        first.kill()
        raise
    assert first.returncode == -signal.SIGKILL, err
    [(_, flags)] = folder_messages(dovecot, pki, "INBOX")
    assert b"$ProstopHandled" not in flags  # fetched, recorded, not marked
    assert event_count(tmp_path) == 1

    second = serve(config, kill=None)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            [(_, flags)] = folder_messages(dovecot, pki, "INBOX")
            if b"$ProstopHandled" in flags:
                break
            time.sleep(0.1)
    finally:
        second.send_signal(signal.SIGTERM)
        out, err = second.communicate(timeout=30)
    assert second.returncode == 0, err
    assert b"$ProstopHandled" in flags
    assert event_count(tmp_path) == 1  # read again, recognised, not counted twice
    assert "MSSanté imaps://127.0.0.1" in out
