"""`prostop submit DIR…` as a person and a script see it: a progress bar on a terminal (a real
pseudo-terminal), plain lines otherwise, the summary, and Ctrl-C (a real SIGINT) then the same
command resuming without a duplicate."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from prostop_plugin.cli import main
from tests.fixtures.backlog import Backlog, write_backlog

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.startswith("PROSTOP_") and name != "PROSTOP_DISABLE_PLUGIN_AUTOLOAD":
            monkeypatch.delenv(name)
    (tmp_path / "prostop.toml").write_text('data_dir = "var"\n')
    monkeypatch.setenv("PROSTOP_CONFIG", str(tmp_path / "prostop.toml"))
    return tmp_path


@pytest.fixture
def backlog(site: Path) -> Backlog:
    return write_backlog(site / "labo", 120)


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "prostop_plugin.cli", *args]


def run_on_terminal(args: list[str], env: dict[str, str], timeout: float = 60) -> tuple[int, str]:
    """Run with stdin, stdout and stderr on a pseudo-terminal of 120×40; what it showed."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    proc = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, env=env,
                            close_fds=True)
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the terminal's other side is closed
                break
            if not data:
                break
            chunks.append(data)
        code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        proc.kill()
        os.close(master)
    return code, b"".join(chunks).decode("utf-8", "replace")


def test_a_progress_bar_and_the_summary_on_a_terminal(site: Path, backlog: Backlog) -> None:
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40"}
    for name in ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        env.pop(name, None)
    code, shown = run_on_terminal(command("submit", str(backlog.root)), env)
    assert code == 2, shown  # one file unreadable
    plain = ANSI.sub("", shown)
    assert "Lecture des fichiers" in plain and "120/120" in plain and "fichiers/s" in plain
    assert "━" in plain, "a bar"
    assert "\x1b[" in shown, "drawn with terminal control sequences"
    assert "╭" in plain and "Reprise de l'historique" in plain  # the table, boxed
    assert re.search(r"Résultats COVID-19 enregistrés\s+│\s+24 │", plain), plain
    assert re.search(r"Demandes en attente de confirmation\s+│\s+12 │", plain)
    assert plain.count("resultat-0000099.hl7") == 1, "said once: both streams are the terminal"
    assert "Traceback" not in plain


def test_plain_lines_and_the_summary_when_not_a_terminal(
    site: Path, backlog: Backlog, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["submit", str(backlog.root), "--lang", "en"])
    out, err = capsys.readouterr()
    assert code == 2
    lines = [line for line in err.splitlines() if "files read" in line]
    assert len(lines) == 10 and "\x1b" not in err
    assert re.fullmatch(r"prostop: 12/120 files read \(10 %\), \d+ files/s", lines[0])
    assert lines[-1].startswith("prostop: 120/120 files read (100 %)")
    unreadable = [line for line in err.splitlines() if "resultat-0000099.hl7" in line]
    assert len(unreadable) == 1 and "truncated" in unreadable[0]  # on stderr for scripts
    assert re.search(r"\| Files read\s+\|\s+120 \|", out)
    assert re.search(r"\| Not about COVID-19 \(nothing stored\)\s+\|\s+95 \|", out)
    assert re.search(r"\| Unreadable \(not stored, see below\)\s+\|\s+1 \|", out)
    assert re.search(r"\| COVID-19 results stored\s+\|\s+24 \|", out)
    assert re.search(r"\| Requests waiting for confirmation\s+\|\s+12 \|", out)
    assert re.search(r"\| Not eligible\s+\|\s+12 \|", out)
    assert "resultat-0000099.hl7" in out and "pending list" in out


def test_json_summary_for_scripts(
    site: Path, backlog: Backlog, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["submit", str(backlog.root), "--json"]) == 2
    out, err = capsys.readouterr()
    summary = json.loads(out)
    assert (summary["read"], summary["events_stored"], summary["not_relevant"]) == (120, 24, 95)
    assert len(summary["issuances"]) == 24 and "fichiers lus" not in err


CTRL_C_PLUGIN = """
import os, pathlib, time
from prostop_plugin import hookimpl
waiting = 0

@hookimpl
def prostop_issuance_changed(record, previous):
    global waiting
    if record.state.value == "awaiting_confirmation":
        waiting += 1
        if waiting == 5:  # the 5th positive result: stored, being handled
            pathlib.Path(os.environ["CTRL_C_READY"]).write_text("ready")
            time.sleep(120)  # the person presses Ctrl-C here
"""


def test_ctrl_c_then_the_same_command_resumes(site: Path, backlog: Backlog) -> None:
    (site / "ctrl_c_plugin.py").write_text(CTRL_C_PLUGIN)
    ready = site / "ready"
    env = {**os.environ, "PYTHONPATH": str(site), "PROSTOP_PLUGINS": '["ctrl_c_plugin"]',
           "CTRL_C_READY": str(ready)}
    proc = subprocess.Popen(command("submit", str(backlog.root)), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not ready.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ready.exists(), proc.communicate(timeout=10)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, out + err
    assert "Interrompu. Relancez la même commande pour reprendre" in out
    assert re.search(r"\| Fichiers lus\s+\|\s+40 \|", out), out  # the 41st was cut short
    assert "Traceback" not in err

    env.pop("PROSTOP_PLUGINS")
    resumed = subprocess.run(command("submit", str(backlog.root), "--json"), env=env,
                             capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 2, resumed.stderr  # the unreadable file, again
    summary = json.loads(resumed.stdout)
    assert summary["resumed"] == 40 and summary["read"] == 120
    assert summary["events_known"] == 1  # the file Ctrl-C cut: read again, recognised
    assert summary["events_stored"] == 23
    assert summary["states"] == {"awaiting_confirmation": 12, "not_eligible": 12}
    status = subprocess.run(command("status", "--json"), env=env, capture_output=True,
                            text=True, timeout=60)
    assert len(json.loads(status.stdout)) == 24, "one issuance per result, no duplicate"
