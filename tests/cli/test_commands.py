"""The `prostop` command: setup, the confirmation queue, errors as one line, never a traceback."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from prostop_plugin.cli import main
from prostop_plugin.simulator.options import SimulatorOptions
from prostop_plugin.simulator.server import RunningSimulator, run_in_thread
from tests.fixtures.builders import rtpcr_event


@pytest.fixture(scope="module")
def sim() -> Iterator[RunningSimulator]:
    with run_in_thread(SimulatorOptions(ciba_interval=0.05)) as simulator:
        yield simulator


@pytest.fixture
def site(tmp_path: Path, sim: RunningSimulator, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An installation made by `prostop init`, pointed at the simulator by environment."""
    for name in list(os.environ):
        if name.startswith("PROSTOP_") and name != "PROSTOP_DISABLE_PLUGIN_AUTOLOAD":
            monkeypatch.delenv(name)
    assert main(["init", str(tmp_path)]) == 0
    monkeypatch.setenv("PROSTOP_CONFIG", str(tmp_path / "prostop.toml"))
    monkeypatch.setenv("PROSTOP_CODE_SERVICE__BASE_URL", sim.base_url)
    monkeypatch.setenv("PROSTOP_PSC__ISSUER", sim.psc_issuer)
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_init_writes_a_commented_config_and_private_keys(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = (site / "prostop.toml").read_text()
    assert "# " in config and "[code_service]" in config and "accept_antigen = false" in config
    for key in (site / "var" / "keys").iterdir():
        if key.name.startswith("."):
            continue
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key
    code, _, err = run(capsys, "init", str(site))
    assert code == 2 and "already exists" in err and "--force" in err


def test_doctor_passes_on_a_fresh_installation(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "doctor")
    assert code == 0, out
    assert out.count("✓") >= 7 and "✗" not in out


def test_doctor_names_what_is_wrong_and_how_to_fix_it(
    site: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    os.chmod(site / "var", 0o755)
    monkeypatch.setenv("PROSTOP_CODE_SERVICE__BASE_URL", "http://127.0.0.1:9")
    code, out, _ = run(capsys, "doctor")
    assert code == 1
    assert "✗ data folder" in out and "chmod 700" in out
    assert "✗ code service" in out


def test_config_errors_name_the_key_the_value_and_the_form(
    site: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROSTOP_CODE_SERVICE__BASE_URL", "http://codes.example.org")
    code, _, err = run(capsys, "status")
    assert code == 2 and "Traceback" not in err
    assert "code_service.base_url" in err and "codes.example.org" in err and "https" in err
    monkeypatch.delenv("PROSTOP_CODE_SERVICE__BASE_URL")
    (site / "prostop.toml").write_text("locale = 'fr'\n[eligibility]\ncontact_window_days = 'x'\n")
    code, _, err = run(capsys, "status")
    assert code == 2 and "eligibility.contact_window_days" in err


def test_schema_is_the_event_format(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "schema")
    schema = json.loads(out)
    assert code == 0 and schema["title"] == "prostop-plugin DiagnosisEvent"
    assert {"source", "patient", "evidence"} <= set(schema["properties"])


def test_pending_queue_from_submit_to_code(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    event = site / "event.json"
    event.write_text(rtpcr_event(when=datetime.now(UTC) - timedelta(hours=2)).model_dump_json())
    code, out, err = run(capsys, "submit", str(event), "--json")
    assert code == 0, err
    issuance_id = json.loads(out)[0]["id"]

    code, out, _ = run(capsys, "pending", "list", "--json")
    waiting = json.loads(out)
    assert [w["issuance_id"] for w in waiting] == [issuance_id]
    assert waiting[0]["decision"]["requires_qr_attestation"] is True

    code, _, err = run(capsys, "pending", "approve", issuance_id[:6],
                       "--practitioner", "10003456789")
    assert code == 1 and "QR code SI-DEP" in err and "--attest-qr-unavailable" in err

    code, out, err = run(capsys, "pending", "approve", issuance_id[:6],
                         "--practitioner", "10003456789", "--attest-qr-unavailable")
    assert code == 0, err
    # no adapter writes back in this bare installation: the code is visibly pending write-back
    code, out, _ = run(capsys, "status", issuance_id, "--json")
    status = json.loads(out)
    assert status["state"] == "write_back_failed" and status["code_last2"]
    assert "no adapter" in status["error"]["en"]

    code, out, _ = run(capsys, "pending", "list")
    assert "no confirmation waiting" in out
    code, out, _ = run(capsys, "audit", "verify")
    assert code == 0 and "intact" in out


def test_bad_practitioner_id_and_unknown_issuance_are_one_line(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "pending", "approve", "abc", "--practitioner", "12")
    assert code == 2 and "RPPS" in err and "Traceback" not in err
    code, _, err = run(capsys, "pending", "approve", "ffffff", "--practitioner", "10003456789")
    assert code == 1 and "no issuance" in err


def test_audit_verify_names_the_broken_entry(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    event = site / "event.json"
    event.write_text(rtpcr_event(when=datetime.now(UTC)).model_dump_json())
    assert run(capsys, "submit", str(event))[0] == 0
    log = site / "var" / "audit.jsonl"
    lines = log.read_text().splitlines()
    lines[0] = lines[0].replace("system", "someone")
    log.write_text("\n".join(lines) + "\n")
    code, _, err = run(capsys, "audit", "verify")
    assert code == 1 and "entry 1" in err


def test_serve_runs_services_and_the_worker_then_stops_on_sigterm(
    site: Path, tmp_path: Path
) -> None:
    import signal
    import subprocess
    import sys
    import threading

    plugin = tmp_path / "svc_plugin.py"
    plugin.write_text(
        "from prostop_plugin import hookimpl\n"
        "class Svc:\n"
        "    name = 'test service'\n"
        "    def start(self): print('svc started', flush=True)\n"
        "    def stop(self): print('svc stopped', flush=True)\n"
        "@hookimpl\n"
        "def prostop_background_services(runtime):\n"
        "    return [Svc()]\n"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "PROSTOP_PLUGINS": '["svc_plugin"]'}
    proc = subprocess.Popen(
        [sys.executable, "-m", "prostop_plugin.cli", "serve", "--tick", "0.2"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    lines: list[str] = []
    ready = threading.Event()

    def read_stdout() -> None:  # a reader thread: the test's own waits stay bounded
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if "serving" in line:
                ready.set()

    reader = threading.Thread(target=read_stdout, daemon=True)
    reader.start()
    try:
        assert ready.wait(60), "".join(lines)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        reader.join(10)  # the reader owns stdout until its end
        assert proc.stderr is not None
        err = proc.stderr.read()
    finally:
        proc.kill()
    text = "".join(lines)
    assert proc.returncode == 0, err
    assert "svc started" in text and "started: test service" in text
    assert "svc stopped" in text and "stopped: test service" in text


def test_scripted_demo_checks_every_step(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "demo", "--scripted")
    assert code == 0, out + err
    assert "Démonstration terminée" in out and "✗" not in out
    assert out.count("✓") >= 10


def test_doctor_reports_a_bad_adapter_section(
    site: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PROSTOP_DISABLE_PLUGIN_AUTOLOAD")
    config = site / "prostop.toml"
    text = config.read_text().replace('adapters = []', 'adapters = ["filedrop"]')
    config.write_text(text + '\n[adapter.filedrop]\ninbox = "/nonexistent/inbox"\ninbx = 1\n')
    code, out, _ = run(capsys, "doctor")
    assert code == 1
    assert "✗ adapters" in out and "adapter.filedrop" in out


def test_init_enables_the_console_on_loopback(site: Path) -> None:
    from prostop_plugin.config import load_settings

    settings = load_settings(site / "prostop.toml")
    assert settings.console.listen == "127.0.0.1:8710"
    assert settings.console.base_url() == "http://127.0.0.1:8710"
    assert settings.console.notice_in_record and not settings.console.tls
