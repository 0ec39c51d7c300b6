"""`prostop service-unit`: a hardened systemd unit that systemd itself accepts, naming every
folder the service writes to (the file drop's from its own hook), and nothing created."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from prostop_plugin.cli import main

HARDENING = [
    "NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes", "PrivateDevices=yes",
    "ProtectKernelTunables=yes", "ProtectControlGroups=yes", "RestrictSUIDSGID=yes",
    "CapabilityBoundingSet=", "SystemCallFilter=@system-service", "Restart=on-failure",
    "UMask=0077", "User=prostop", "Group=prostop", "WantedBy=multi-user.target",
]


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("PROSTOP_DISABLE_PLUGIN_AUTOLOAD")  # the file drop by its entry point
    for name in ("PROSTOP_CONFIG", "PROSTOP_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "etc" / "prostop.toml"
    path.parent.mkdir()
    path.write_text(
        f'data_dir = "{tmp_path}/lib/prostop"\nadapters = ["filedrop"]\n'
        f'[write_back]\nfolder = "{tmp_path}/ehr/json"\n'
        f'[adapter.filedrop]\ninbox = "{tmp_path}/labo/inbox"\noutbox = "{tmp_path}/ehr/import"\n'
        f'quarantine = "{tmp_path}/labo/quarantaine"\n'
    )
    return path


def test_the_unit_is_hardened_and_grants_only_the_service_folders(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(config), "service-unit"]) == 0
    unit = capsys.readouterr().out
    for line in HARDENING:
        assert f"\n{line}\n" in unit, line
    [start] = [line for line in unit.splitlines() if line.startswith("ExecStart=")]
    assert start.endswith(f"prostop --config {config} serve")
    granted = [line.removeprefix("ReadWritePaths=-") for line in unit.splitlines()
               if line.startswith("ReadWritePaths=")]
    assert granted == [f"{tmp_path}/{p}" for p in (
        "lib/prostop", "ehr/json", "labo/inbox", "labo/inbox-prostop/processing",
        "labo/inbox-prostop/done", "labo/quarantaine", "ehr/import")]
    assert "ProtectHome=yes" in unit or "ProtectHome=read-only" in unit
    assert not (tmp_path / "lib").exists(), "printing a unit creates nothing (no keys, no ledger)"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze missing")
def test_systemd_accepts_the_unit(config: Path, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(config), "service-unit", "--user", "labo"]) == 0
    unit = tmp_path / "prostop.service"
    unit.write_text(capsys.readouterr().out)
    checked = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True,
                             text=True, timeout=60)
    complaints = [line for line in checked.stderr.splitlines() if str(unit) in line]
    assert checked.returncode == 0 and complaints == [], checked.stderr
    assert "User=labo" in unit.read_text()
    unit.write_text(unit.read_text().replace("ProtectSystem=strict", "ProtectSystem=stricter"))
    checked = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True,
                             text=True, timeout=60)
    assert "ProtectSystem" in checked.stderr or "protect system" in checked.stderr, \
        "the check above can see a bad line"


def test_without_a_configuration_file_it_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PROSTOP_CONFIG", raising=False)
    assert main(["service-unit"]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert "configuration file" in line and "prostop init" in line
