"""The HL7 v2 / MLLP adapter passes the test kit's conformance suite; its write-back goes to a
scripted EHR listening on a real loopback socket."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from prostop_hl7v2_mllp.plugin import MLLPPlugin
from prostop_hl7v2_mllp.writeback import control_id_for
from prostop_plugin.app import Prostop
from prostop_plugin.testing import AdapterConformance
from tests.adapters.hl7v2_mllp.conftest import mllp_section
from tests.adapters.hl7v2_mllp.helpers import FakeEHR, control_id_of, fake_ehr


class TestMLLPConformance(AdapterConformance):
    adapter = "hl7v2_mllp"
    ehr: FakeEHR

    @pytest.fixture(autouse=True)
    def peer(self) -> Iterator[FakeEHR]:
        with fake_ehr() as ehr:
            self.ehr = ehr
            yield ehr

    def make_plugin(self) -> object:
        return MLLPPlugin()

    def adapter_section(self, workdir: Path) -> dict[str, Any]:
        return mllp_section(peer=self.ehr.address)

    def bad_adapter_section(self, workdir: Path) -> tuple[dict[str, Any], str]:
        return mllp_section(peer="nowhere"), "peer"

    def delivered(self, runtime: Prostop, issuance_id: str) -> list[str]:
        """The distinct messages the EHR acknowledged for this issuance: a resend of the same
        message (same MSH-10, same content) is one message to an HL7 receiver."""
        control_id = control_id_for(issuance_id)
        return sorted({frame.decode("utf-8") for frame in self.ehr.accepted
                       if control_id_of(frame) == control_id})

    def break_write_back(self, runtime: Prostop) -> None:
        self.ehr.answers[:] = ["AR"] * 10  # the EHR rejects what it gets

    def repair_write_back(self, runtime: Prostop) -> None:
        self.ehr.answers.clear()
