"""A sender whose counter restarts reuses MSH-10: another patient's result is never dropped."""

from __future__ import annotations

import pytest

from prostop_hl7v2_mllp.server import MLLPService
from prostop_plugin import Prostop
from prostop_plugin.hl7.send import MLLPClient
from tests.adapters.hl7v2_mllp.helpers import CORPUS, control_id_of, corpus_bytes

needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is not laid out")


def as_patient(data: bytes, family: str, given: str, local_id: str) -> bytes:
    """The corpus positive ORU about another patient (no INS: the local id tells them apart)."""
    lines = data.split(b"\r")
    lines = [
        b"PID|||" + local_id.encode() + b"^^^CABINET-DURAND^PI||" + family.encode() + b"^"
        + given.encode() + b"^^^^^L||19800115|F" if line.startswith(b"PID|") else line
        for line in lines
    ]
    return b"\r".join(lines)


@needs_corpus
def test_a_reused_message_id_with_another_patient_is_stored_not_dropped(
    runtime: Prostop, listener: MLLPService, caplog: pytest.LogCaptureFixture
) -> None:
    alice = as_patient(corpus_bytes(), "MARTIN", "ALICE", "DOS-1")
    bob = as_patient(corpus_bytes(), "LEROY", "BOB", "DOS-2")
    assert control_id_of(alice) == control_id_of(bob)  # same MSH-10, same MSH-4
    with MLLPClient("127.0.0.1", listener.port, connect_timeout=2.0) as client:
        assert client.exchange(alice, control_id_of(alice), timeout=5.0).code == "CA"
        assert client.exchange(bob, control_id_of(bob), timeout=5.0).code == "CA"
        # resends of either are duplicates: answered, nothing stored twice
        assert client.exchange(alice, control_id_of(alice), timeout=5.0).code == "CA"
        assert client.exchange(bob, control_id_of(bob), timeout=5.0).code == "CA"
    assert runtime.ledger.event_count() == 2
    patients = {
        runtime.ledger.get(s.id).event.patient.display_name()
        for s in runtime.ledger.summaries()
    }
    assert len(patients) == 2 and any("LEROY" in p for p in patients), patients
    assert any("reuses a message id" in r.getMessage() for r in caplog.records)


@needs_corpus
def test_the_same_message_sent_twice_is_stored_once(
    runtime: Prostop, listener: MLLPService
) -> None:
    data = corpus_bytes()
    with MLLPClient("127.0.0.1", listener.port, connect_timeout=2.0) as client:
        for _ in range(3):
            assert client.exchange(data, control_id_of(data), timeout=5.0).code == "CA"
    assert runtime.ledger.event_count() == 1
    assert len(runtime.ledger.summaries()) == 1
