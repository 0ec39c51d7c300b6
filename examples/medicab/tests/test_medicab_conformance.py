"""MediCab's adapter passes the test kit's conformance suite (prostop_plugin.testing)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prostop_medicab.plugin import MedicabPlugin
from prostop_plugin import Prostop
from prostop_plugin.testing import AdapterConformance


class TestMedicabConformance(AdapterConformance):
    adapter = "medicab"

    def make_plugin(self) -> object:
        return MedicabPlugin()

    def adapter_section(self, workdir: Path) -> dict[str, Any]:
        (workdir / "import").mkdir()
        return {"import_dir": str(workdir / "import")}

    def bad_adapter_section(self, workdir: Path) -> tuple[dict[str, Any], str]:
        return {"import_dir": "medicab/import"}, "import_dir"

    def delivered(self, runtime: Prostop, issuance_id: str) -> list[str]:
        return [p.read_text(encoding="utf-8")
                for p in sorted((self.workdir / "import").glob(f"medicab-{issuance_id}.*"))]

    def break_write_back(self, runtime: Prostop) -> None:
        (self.workdir / "import").rename(self.workdir / "share-unmounted")

    def repair_write_back(self, runtime: Prostop) -> None:
        (self.workdir / "share-unmounted").rename(self.workdir / "import")
