"""The code card says where the code went: "reported" only when this record has it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import SecretStr

from prostop_demo_ehr.views import code_card
from prostop_plugin import IssuanceState, Prostop, Settings, WriteBackReceipt
from tests.fixtures.builders import rtpcr_event


def issued(prostop: Prostop, receipts: list[WriteBackReceipt], patient: int) -> str:
    """An issued record with the given write-back receipts, straight into the ledger."""
    record, _ = prostop.engine.ingest(rtpcr_event(
        n=patient, when=datetime.now(UTC) - timedelta(hours=1), message_id=f"M{patient}"
    ))
    record.state = IssuanceState.WRITTEN_BACK
    record.code = SecretStr("7h3k9q")
    record.code_last2 = "9q"
    record.valid_until = datetime.now(UTC) + timedelta(minutes=50)
    record.receipts = receipts
    with prostop.ledger.transaction() as conn:
        prostop.ledger.save(conn, record, expect=IssuanceState.RECEIVED, actor="test",
                            now=datetime.now(UTC))
    return record.id


def test_a_code_delivered_to_the_file_drop_is_not_shown_as_in_this_record(
    tmp_path: Path,
) -> None:
    with Prostop.open(Settings(data_dir=tmp_path / "var")) as prostop:
        filedrop = WriteBackReceipt(adapter="filedrop", target="/srv/outbox/x.xml",
                                    detail="CDA R2 (import)")
        card = code_card(prostop, prostop.ledger.get(issued(prostop, [filedrop], 1)), "fr")
        assert not card.written_back
        assert card.delivered_elsewhere == ("filedrop : CDA R2 (import)",)

        ours = WriteBackReceipt(adapter="demo_ehr", target="dossier DOS-1")
        card = code_card(prostop, prostop.ledger.get(issued(prostop, [ours], 2)), "fr")
        assert card.written_back and card.delivered_elsewhere == ()
