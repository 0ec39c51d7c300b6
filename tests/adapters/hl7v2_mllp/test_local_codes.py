"""Over real MLLP sockets: a SARS-CoV-2 RT-PCR sent with a laboratory's own code only is stored
and offered, not acknowledged as "not about COVID-19"; a seasonal coronavirus still is."""

from __future__ import annotations

from pathlib import Path

from prostop_hl7v2_mllp.server import MLLPService
from prostop_plugin.app import Prostop
from prostop_plugin.codewatch import SeenCodes
from prostop_plugin.hl7.send import MLLPClient
from tests.adapters.hl7v2_mllp.helpers import control_id_of

CORPUS = Path(__file__).resolve().parents[2] / "eligibility" / "corpus"


def send(listener: MLLPService, name: str) -> str:
    data = (CORPUS / name).read_bytes()
    with MLLPClient("127.0.0.1", listener.port, connect_timeout=2.0) as client:
        reply = client.exchange(data, control_id_of(data), timeout=5.0)
    return reply.code


def test_a_local_coded_rtpcr_is_stored_offered_and_its_code_counted(
    runtime: Prostop, listener: MLLPService
) -> None:
    assert send(listener, "hl7_231_pcr_local_positive.hl7") == "CA"  # v2.3.1, Latin-1
    assert runtime.ledger.event_count() == 1
    (summary,) = runtime.ledger.summaries()
    record = runtime.ledger.get(summary.id)
    assert record.state.value == "awaiting_confirmation"
    assert record.decision is not None and "d'après le libellé" in record.decision.reasons[0].fr
    (row,) = SeenCodes(runtime.settings.data_dir).rows()
    assert (row.sender, row.code, row.category) == ("LABO-MISTRAL", "SCOV2", "naat")


def test_seasonal_coronaviruses_and_variant_screens_are_not_stored(
    runtime: Prostop, listener: MLLPService
) -> None:
    for name in ("hl7_24_seasonal_coronaviruses_only.hl7", "hl7_25_variant_screening.hl7"):
        assert send(listener, name) == "CA"
    assert runtime.ledger.event_count() == 0
