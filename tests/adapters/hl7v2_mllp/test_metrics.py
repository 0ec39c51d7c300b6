"""The listener's figures for the [metrics] endpoint: ACK latency and ACK codes."""

from __future__ import annotations

from prostop_hl7v2_mllp.server import MLLPService
from prostop_plugin.hl7.send import MLLPClient
from prostop_plugin.telemetry import REGISTRY
from tests.adapters.hl7v2_mllp.helpers import GLUCOSE_ORU, control_id_of, corpus_bytes


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_every_ack_is_timed_and_counted_by_its_code(listener: MLLPService) -> None:
    timed = sample("prostop_mllp_ack_seconds_count")
    stored, unread = sample("prostop_mllp_messages_total", ack="CA"), \
        sample("prostop_mllp_messages_total", ack="AE")
    positive = corpus_bytes()
    with MLLPClient("127.0.0.1", listener.port, connect_timeout=2.0) as client:
        assert client.exchange(positive, control_id_of(positive), timeout=5.0).code == "CA"
        glucose = GLUCOSE_ORU
        assert client.exchange(glucose, control_id_of(glucose), timeout=5.0).code in ("AA", "CA")
        assert client.exchange(b"MSH|not a message", None, timeout=5.0).code == "AE"
    assert sample("prostop_mllp_ack_seconds_count") - timed == 3
    assert sample("prostop_mllp_messages_total", ack="CA") - stored >= 1
    assert sample("prostop_mllp_messages_total", ack="AE") - unread == 1
