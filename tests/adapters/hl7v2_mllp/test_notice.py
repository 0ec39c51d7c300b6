"""The "confirmation en attente" note sent to the MLLP peer when a request from HL7 starts
waiting: the patient's PID, the console's link, its own MSH-10, and sent once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from prostop_hl7v2_mllp.plugin import plugin as mllp_plugin
from prostop_hl7v2_mllp.writeback import control_id_for, notice_control_id
from prostop_plugin.app import Prostop
from prostop_plugin.hl7.er7 import parse
from prostop_plugin.hl7.mapping import map_message
from prostop_plugin.models import IssuanceState
from tests.adapters.hl7v2_mllp.conftest import mllp_section, runtime_settings
from tests.adapters.hl7v2_mllp.helpers import CORPUS, FakeEHR, corpus_bytes, fake_ehr

pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is not laid out")


@pytest.fixture
def ehr() -> Iterator[FakeEHR]:
    with fake_ehr() as listener:
        yield listener


def open_runtime(tmp_path: Path, ehr: FakeEHR, **section: Any) -> Prostop:
    settings = runtime_settings(tmp_path, mllp_section(peer=ehr.address, **section))
    settings = settings.model_copy(update={"console": settings.console.model_copy(
        update={"listen": "127.0.0.1:8710"})})
    return Prostop.open(settings, plugins=[mllp_plugin])


def waiting(runtime: Prostop) -> str:
    data = corpus_bytes()
    event = map_message(parse(data), adapter="hl7v2_mllp", raw=data).events[0]
    record = runtime.hooks.diagnosis_recorded(event)
    assert record is not None and record.state == IssuanceState.AWAITING_CONFIRMATION
    return record.id


@pytest.mark.parametrize("message_type", ["ORU^R01", "MDM^T02"])
def test_the_peer_receives_a_note_with_the_console_link(
    tmp_path: Path, ehr: FakeEHR, message_type: str
) -> None:
    with open_runtime(tmp_path, ehr, write_back_message_type=message_type) as runtime:
        issuance = waiting(runtime)
    [note] = ehr.received
    message = parse(note)
    assert message.segment("MSH").get("9.1") + "^" + message.segment("MSH").get("9.2") \
        == message_type
    assert message.segment("MSH").get(10) == notice_control_id(issuance)
    assert notice_control_id(issuance) != control_id_for(issuance)
    text = note.decode("utf-8")
    assert "Déclaration StopCovid : confirmation en attente" in text
    assert f"http://127.0.0.1:8710/demandes/{issuance}" in text
    assert message.segment("PID").get("5.1") == "DUPONT"


def test_sent_once_even_when_the_result_is_sent_again(tmp_path: Path, ehr: FakeEHR) -> None:
    with open_runtime(tmp_path, ehr) as runtime:
        first = waiting(runtime)
        assert waiting(runtime) == first
    assert len(ehr.received) == 1


def test_a_peer_refusing_the_note_leaves_the_request_waiting(tmp_path: Path) -> None:
    with fake_ehr(["AE"]) as refusing, open_runtime(tmp_path, refusing) as runtime:
        issuance = waiting(runtime)
        assert [r.issuance_id for r in runtime.engine.pending()] == [issuance]
        failed = [e for e in runtime.audit.entries() if e.action == "observer_failed"]
    assert len(failed) == 1 and "pending notice" in str(failed[0].details["message"])
