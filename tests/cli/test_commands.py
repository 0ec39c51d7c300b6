"""The `prostop` command: setup, the confirmation queue, errors as one line, never a traceback."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import stat
import subprocess
import sys
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
    issuance_id = json.loads(out)["issuances"][0]["id"]

    code, out, _ = run(capsys, "pending", "list", "--json")
    waiting = json.loads(out)
    assert [w["issuance_id"] for w in waiting] == [issuance_id]
    assert waiting[0]["decision"]["requires_qr_attestation"] is True

    code, _, err = run(capsys, "pending", "approve", issuance_id[:6],
                       "--practitioner", "10003456789")
    assert code == 1 and "QR code SI-DEP" in err and "--attest-qr-unavailable" in err

    code, out, _ = run(capsys, "pending", "list")  # the installation's language: French
    assert "Cas confirmé" in out and "à attester : QR code SI-DEP indisponible" in out

    code, out, err = run(capsys, "pending", "approve", issuance_id[:6],
                         "--practitioner", "10003456789", "--attest-qr-unavailable")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("Validez la demande sur votre application e-CPS (code de "
                               "vérification ")  # the two digits, before the wait
    assert re.search(r"Code à remettre au patient : [0-9A-Z]{6} \(usage unique, valable "
                     r"jusqu'au \d\d/\d\d/\d{4} à \d\dh\d\d\)", lines[1]), lines[1]
    # no adapter writes back in this bare installation: the code is visibly pending write-back
    code, out, _ = run(capsys, "status", issuance_id, "--json")
    status = json.loads(out)
    assert status["state"] == "write_back_failed" and status["code_last2"]
    assert "no adapter" in status["error"]["en"]

    code, out, _ = run(capsys, "pending", "list")
    assert "Aucune confirmation en attente." in out
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
    with sqlite3.connect(site / "var" / "ledger.sqlite3") as conn:
        conn.execute("UPDATE audit SET actor = 'someone' WHERE seq = 1")
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


def test_the_demo_can_shorten_the_code_validity_to_show_expiry(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(capsys, "demo", "--scripted", "--code-validity", "2m")
    assert code == 0, out + err
    given = re.search(r"code \w{6} remis le \S+ à (\d+)h(\d\d) .*valable jusqu'au \S+ à "
                      r"(\d+)h(\d\d)", out)
    assert given, out
    start, end = (int(given[1]) * 60 + int(given[2])), (int(given[3]) * 60 + int(given[4]))
    assert (end - start) % (24 * 60) == 2
    with pytest.raises(SystemExit):
        main(["demo", "--code-validity", "5s"])
    assert "out of range" in capsys.readouterr().err


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


def test_a_reader_that_goes_away_ends_the_output_quietly(tmp_path: Path) -> None:
    """`prostop schema | head -1`: no BrokenPipeError traceback, the SIGPIPE exit code."""
    process = subprocess.Popen(
        [sys.executable, "-m", "prostop_plugin.cli", "schema"], cwd=tmp_path,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # the reader is gone before the first line
    errors = process.stderr.read().decode()
    assert process.wait(timeout=30) == 141
    assert "Traceback" not in errors and errors == ""


def test_serve_logs_at_the_installations_level(tmp_path: Path) -> None:
    config = tmp_path / "prostop.toml"
    config.write_text('data_dir = "var"\nlog_level = "debug"\n')
    from prostop_plugin.config import load_settings

    assert load_settings(config).log_level == "DEBUG"
    config.write_text('data_dir = "var"\nlog_level = "loud"\n')
    assert main(["--config", str(config), "status"]) == 2


def test_status_of_a_not_eligible_request_says_why(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.fixtures.builders import serology_event

    event = site / "serology.json"
    event.write_text(serology_event(when=datetime.now(UTC) - timedelta(hours=2))
                     .model_dump_json())
    code, out, err = run(capsys, "submit", str(event), "--json")
    assert code == 0, err
    record = json.loads(out)["issuances"][0]
    assert record["state"] == "not_eligible"
    code, out, _ = run(capsys, "status", record["id"])
    assert code == 0 and "sérologie" in out.lower(), out


def test_what_serve_logs_of_an_event_names_the_issuance_never_the_patient(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """`prostop serve` logs at log_level INFO: stored, not eligible, waiting — by id only."""
    import logging

    from prostop_plugin import Prostop, Settings
    from tests.fixtures.builders import serology_event

    event = serology_event(when=datetime.now(UTC) - timedelta(hours=2))
    with caplog.at_level(logging.INFO), Prostop.open(Settings(data_dir=tmp_path / "v")) as app:
        record = app.hooks.diagnosis_recorded(event)
    assert record is not None
    lines = [r.getMessage() for r in caplog.records if record.id in r.getMessage()]
    assert any("-> received" in line for line in lines)
    assert any("received -> not_eligible" in line for line in lines)
    patient = event.patient
    for line in (r.getMessage() for r in caplog.records):
        assert patient.family_name not in line and patient.host_patient_id not in line


def test_check_refuses_to_merge_two_patients_files(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """MARTIN's diagnosis + DUPONT's RT-PCR must never read as one case."""
    from tests.corpus_location import CORPUS

    files = [str(CORPUS / "adt_u072_no_ct.hl7"), str(CORPUS / "oru_rtpcr_positive.hl7")]
    code, out, err = run(capsys, "check", "--as-of", "2020-11-20", *files)
    assert code == 2 and out == ""
    assert "2 different patients" in err and "check one patient's files at a time" in err
    assert len(err.strip().splitlines()) == 1


def test_doctor_says_a_404_is_not_the_code_service(
    site: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROSTOP_CODE_SERVICE__GENERATE_PATH", "/not/the/service")
    code, out, _ = run(capsys, "doctor")
    assert code == 1
    assert "✗ code service" in out and "HTTP 404" in out and "generate_path" in out


def test_doctor_checks_the_file_drop_folders_as_serve_will(
    site: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PROSTOP_DISABLE_PLUGIN_AUTOLOAD")
    monkeypatch.setenv("PROSTOP_ADAPTERS", '["filedrop"]')
    monkeypatch.setenv("PROSTOP_ADAPTER__FILEDROP__INBOX", str(site / "inbox"))
    monkeypatch.setenv("PROSTOP_ADAPTER__FILEDROP__OUTBOX", str(site / "outbox"))
    code, out, _ = run(capsys, "doctor")
    assert code == 1 and "✗ adapters" in out and "inbox folder does not exist" in out
    (site / "inbox").mkdir()
    (site / "outbox").mkdir()
    code, out, _ = run(capsys, "doctor")
    assert code == 0, out
    assert "✓ adapters" in out and "ready" in out


def test_init_enables_the_console_on_loopback(site: Path) -> None:
    from prostop_plugin.config import load_settings

    settings = load_settings(site / "prostop.toml")
    assert settings.console.listen == "127.0.0.1:8710"
    assert settings.console.base_url() == "http://127.0.0.1:8710"
    assert settings.console.notice_in_record and not settings.console.tls
