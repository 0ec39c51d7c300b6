"""The ledger holds encrypted patient data: its files are the owner's only, like the keys."""

from __future__ import annotations

import stat
from datetime import UTC, datetime
from pathlib import Path

from prostop_plugin import Prostop, Settings
from tests.fixtures.builders import rtpcr_event


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_ledger_and_its_wal_and_shm_are_0600(tmp_path: Path) -> None:
    with Prostop.open(Settings(data_dir=tmp_path / "var")) as prostop:
        prostop.engine.ingest(rtpcr_event(when=datetime.now(UTC)))
        files = [Path(f"{prostop.settings.ledger_path}{s}") for s in ("", "-wal", "-shm")]
        assert all(f.exists() for f in files)
        assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}


def test_a_ledger_left_0644_by_an_older_version_is_narrowed(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "var")
    with Prostop.open(settings):
        pass
    settings.ledger_path.chmod(0o644)
    with Prostop.open(settings):
        assert mode(settings.ledger_path) == 0o600
