"""From an ORU received over MLLP to the code written back to the EHR over MLLP, with the
simulator issuing the code and a scripted EHR listener on a real socket."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from prostop_hl7v2_mllp.plugin import plugin as mllp_plugin
from prostop_hl7v2_mllp.server import MLLPService
from prostop_hl7v2_mllp.settings import load_mllp_settings
from prostop_hl7v2_mllp.writeback import control_id_for
from prostop_plugin.app import Prostop
from prostop_plugin.hl7.er7 import parse
from prostop_plugin.hl7.mapping import map_message
from prostop_plugin.hl7.send import MLLPClient
from prostop_plugin.models import (
    ConfirmationDecision,
    IssuanceRecord,
    IssuanceState,
    Practitioner,
)
from prostop_plugin.simulator import RunningSimulator
from tests.adapters.hl7v2_mllp.conftest import mllp_section, runtime_settings
from tests.adapters.hl7v2_mllp.helpers import (
    CORPUS,
    FakeEHR,
    corpus_bytes,
    fake_ehr,
    free_port,
)

pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is not laid out")
S = IssuanceState


def approval() -> ConfirmationDecision:
    return ConfirmationDecision(
        approved=True, qr_unavailable_attested=True,
        practitioner=Practitioner(national_id="10003456789", profession_code="10",
                                  family_name="DURAND", given_name="Claire"),
    )


def open_runtime(tmp_path: Path, simulator: RunningSimulator, **section: Any) -> Prostop:
    settings = runtime_settings(tmp_path, mllp_section(**section), simulator)
    return Prostop.open(settings, plugins=[mllp_plugin])


def received_positive_result(runtime: Prostop) -> IssuanceRecord:
    """The positive RT-PCR ORU, as the listener hands it over."""
    data = corpus_bytes()
    event = map_message(parse(data), adapter="hl7v2_mllp", raw=data).events[0]
    record = runtime.hooks.diagnosis_recorded(event)
    assert record is not None and record.state == S.AWAITING_CONFIRMATION
    return record


def code_of(runtime: Prostop, record: IssuanceRecord) -> str:
    stored = runtime.ledger.get(record.id, with_code=True)
    assert stored.code is not None
    return stored.code.get_secret_value()


@pytest.fixture
def ehr() -> Iterator[FakeEHR]:
    with fake_ehr() as listener:
        yield listener


def test_code_reaches_the_ehr_after_approval(
    tmp_path: Path, simulator: RunningSimulator, ehr: FakeEHR
) -> None:
    with open_runtime(tmp_path, simulator, peer=ehr.address) as runtime:
        service = MLLPService(runtime, load_mllp_settings(runtime.settings))
        service.start()
        try:
            with MLLPClient("127.0.0.1", service.port) as lis:
                reply = lis.exchange(corpus_bytes(), "LG20201119-0001", timeout=5.0)
            assert reply.code == "CA"
            pending = runtime.engine.pending()
            assert len(pending) == 1
            done = runtime.engine.decide(pending[0].issuance_id, approval())
        finally:
            service.stop()
        assert done.state == S.WRITTEN_BACK, done.error
        code = code_of(runtime, done)

    assert len(ehr.received) == 1
    message = parse(ehr.received[0])
    assert message.message_type == "ORU^R01"
    assert message.control_id == control_id_for(done.id) == f"PROSTOP-{done.id}"
    obx = message.segment("OBX")
    assert obx is not None and obx[2] == "TX" and obx["3.1"] == "48767-8"
    lines = [rep.text() for rep in obx.repetitions(5)]
    assert code in lines[0], "the summary line comes first and carries the code"
    assert any(code in line for line in lines[2:]), "the record note carries it too"
    assert {message["PID-3(1).1"], message["PID-3(2).1"]} == {"280013306312376", "DOS-4411"}
    assert message["PID-5.1"] == "DUPONT"
    assert message["OBR-16.1"] == "10003456789"
    assert done.receipts[-1].target == f"MLLP {ehr.address}"
    assert f"MSH-10 PROSTOP-{done.id}, ACK CA" in (done.receipts[-1].detail or "")


def test_refusal_then_acceptance_is_retried_with_the_same_message(
    tmp_path: Path, simulator: RunningSimulator
) -> None:
    with fake_ehr(["AE", "AA"]) as ehr, open_runtime(
        tmp_path, simulator, peer=ehr.address
    ) as runtime:
        record = received_positive_result(runtime)
        failed = runtime.engine.decide(record.id, approval())
        assert failed.state == S.WRITE_BACK_FAILED
        assert failed.error is not None and "answered AE: patient unknown" in failed.error.en
        runtime.engine.resume()  # the worker tick: backoff_initial = 0, so the retry is due
        assert runtime.ledger.get(record.id).state == S.WRITTEN_BACK
        assert len(ehr.received) == 2
        assert ehr.received[0] == ehr.received[1], "a retry sends the same MSH-10 and content"
        assert parse(ehr.received[1]).control_id == f"PROSTOP-{record.id}"


def test_an_ack_for_another_message_is_not_taken_for_ours(
    tmp_path: Path, simulator: RunningSimulator
) -> None:
    with fake_ehr(stray_ack_first=True) as ehr, open_runtime(
        tmp_path, simulator, peer=ehr.address
    ) as runtime:
        record = received_positive_result(runtime)
        assert runtime.engine.decide(record.id, approval()).state == S.WRITTEN_BACK


def test_silent_or_absent_ehr_leaves_the_write_back_pending_and_visible(
    tmp_path: Path, simulator: RunningSimulator
) -> None:
    with fake_ehr(silent=True) as ehr, open_runtime(
        tmp_path, simulator, peer=ehr.address, ack_timeout=0.3
    ) as runtime:
        record = received_positive_result(runtime)
        failed = runtime.engine.decide(record.id, approval())
        assert failed.state == S.WRITE_BACK_FAILED
        assert failed.error is not None and "no ACK within 0.3 s" in failed.error.en
        entry = runtime.ledger.outbox_entry(record.id)
        assert entry is not None and entry.status == "pending" and entry.attempts == 1

    with open_runtime(tmp_path / "absent", simulator, peer=f"127.0.0.1:{free_port()}") as runtime:
        record = received_positive_result(runtime)
        failed = runtime.engine.decide(record.id, approval())
        assert failed.state == S.WRITE_BACK_FAILED
        assert failed.error is not None and "cannot connect" in failed.error.en


def test_mdm_with_formatted_text(tmp_path: Path, simulator: RunningSimulator) -> None:
    with fake_ehr() as ehr, open_runtime(
        tmp_path, simulator, peer=ehr.address, write_back_message_type="MDM^T02",
        write_back_value_type="FT", write_back_charset="8859/15",
    ) as runtime:
        record = received_positive_result(runtime)
        done = runtime.engine.decide(record.id, approval())
        assert done.state == S.WRITTEN_BACK, done.error
        code = code_of(runtime, done)
    message = parse(ehr.received[0])
    assert message.message_type == "MDM^T02" and message.charset == "iso8859-15"
    assert message["TXA-9.1"] == "10003456789"
    assert message["OBX-2"] == "FT" and b"\\.br\\" in ehr.received[0]
    assert code in message["OBX-5"] and "\n" in message["OBX-5"]
    assert "—" not in message["OBX-5"], "typographic dashes are spelled for Latin-9"


def test_records_of_other_adapters_are_not_ours(
    tmp_path: Path, simulator: RunningSimulator
) -> None:
    with open_runtime(tmp_path, simulator) as runtime:
        record = received_positive_result(runtime)
    other = record.model_copy(update={"code": SecretStr("7H3K9Q"), "event": record.event.model_copy(
        update={"source": record.event.source.model_copy(update={"adapter": "filedrop"})})})
    assert mllp_plugin.prostop_write_back(other) is None
