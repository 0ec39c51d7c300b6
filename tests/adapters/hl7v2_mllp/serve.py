"""A real ``prostop serve`` in its own process, the MLLP adapter loaded from its entry point
and a test plugin by name (what the kill and shutdown tests run), and its ledger read after."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from prostop_plugin.keys import KeyRing
from prostop_plugin.ledger import Ledger
from tests.adapters.hl7v2_mllp.helpers import REPO, free_port


def write_config(root: Path, port: int, extra: str = "") -> Path:
    """``root/prostop.toml``: the MLLP listener on ``port``, a peer nobody listens on."""
    config = root / "prostop.toml"
    config.write_text(
        'data_dir = "var"\n'
        'as_of = "2020-11-20"\n'
        'adapters = ["hl7v2_mllp"]\n'
        "[adapter.hl7v2_mllp]\n"
        f'listen = "127.0.0.1:{port}"\n'
        f'peer = "127.0.0.1:{free_port()}"\n'
        + extra
    )
    return config


def start_serve(root: Path, plugin: str, **env_values: str) -> subprocess.Popen[str]:
    """``prostop serve`` on ``root/prostop.toml`` with the test plugin module ``plugin`` (and
    ``env_values`` in its environment); returns once it listens, fails after 30 s."""
    # the parent's PROSTOP_DISABLE_PLUGIN_AUTOLOAD goes: the adapter loads by entry point
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROSTOP_")}
    env.update(PYTHONPATH=str(REPO), PROSTOP_PLUGINS=f'["{plugin}"]', **env_values)
    proc = subprocess.Popen(
        [sys.executable, "-m", "prostop_plugin.cli", "--config", str(root / "prostop.toml"),
         "serve", "--tick", "0.2"],
        env=env, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    seen: list[str] = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        seen.append(line)
        if line.startswith("started: MLLP 127.0.0.1:"):
            return proc
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError("prostop serve did not start listening:\n" + "".join(seen))


@contextlib.contextmanager
def opened_ledger(root: Path) -> Iterator[Ledger]:
    """The ledger ``prostop serve`` wrote under ``root/var``, closed after."""
    keyring = KeyRing.open(root / "var" / "keys", create=False)
    ledger = Ledger(root / "var" / "ledger.sqlite3", keyring)
    try:
        yield ledger
    finally:
        ledger.close()
