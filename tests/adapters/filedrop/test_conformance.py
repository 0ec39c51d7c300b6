"""The file-drop adapter passes the test kit's conformance suite."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prostop_filedrop.plugin import FiledropPlugin
from prostop_plugin.app import Prostop
from prostop_plugin.testing import AdapterConformance
from tests.adapters.filedrop.helpers import filedrop_section


class TestFiledropConformance(AdapterConformance):
    adapter = "filedrop"

    def make_plugin(self) -> object:
        return FiledropPlugin()

    def adapter_section(self, workdir: Path) -> dict[str, Any]:
        return filedrop_section(workdir)

    def bad_adapter_section(self, workdir: Path) -> tuple[dict[str, Any], str]:
        return filedrop_section(workdir, inbox="relative/inbox"), "inbox"

    def delivered(self, runtime: Prostop, issuance_id: str) -> list[str]:
        """The import files the EHR would read for this issuance (HPRIM, Latin-1)."""
        outbox = self.workdir / "outbox"
        return [f"{p.name}: {p.read_bytes().decode('latin-1')}"
                for p in sorted(outbox.glob(f"prostop-{issuance_id}.*"))]

    def break_write_back(self, runtime: Prostop) -> None:
        (self.workdir / "outbox").rename(self.workdir / "outbox-unmounted")

    def repair_write_back(self, runtime: Prostop) -> None:
        (self.workdir / "outbox-unmounted").rename(self.workdir / "outbox")
