"""The inbox's figures for the [metrics] endpoint: files per outcome, quarantined per kind."""

from __future__ import annotations

from prostop_filedrop.service import InboxService
from prostop_plugin.telemetry import REGISTRY
from tests.adapters.filedrop.helpers import GLUCOSE_HPRIM, FakeMonotonic, corpus, drop


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, {"adapter": "filedrop", **labels}) or 0.0


def test_files_are_counted_by_outcome_and_quarantined_ones_by_kind(
    service: InboxService, clock: FakeMonotonic
) -> None:
    names = ("recorded", "irrelevant", "quarantined")
    before = {n: sample("prostop_files_processed_total", outcome=n) for n in names}
    unusable = sample("prostop_files_quarantined_total", reason="input_error")
    inbox = service.files.folders.inbox
    drop(inbox, "DUPONT Camille.hl7", corpus("oru_rtpcr_positive.hl7"))
    drop(inbox, "glycemie.hpr", GLUCOSE_HPRIM)
    drop(inbox, "junk.bin", bytes(range(256)) * 8)
    for _ in range(2):
        service.poll_once()
        clock.advance(service.config.settle_seconds + 0.01)
    for name in names:
        assert sample("prostop_files_processed_total", outcome=name) - before[name] == 1, name
    assert sample("prostop_files_quarantined_total", reason="input_error") - unusable == 1
    labels = {tuple(s.labels.values()) for m in REGISTRY.collect() for s in m.samples}
    assert not any("DUPONT" in v or "junk" in v for values in labels for v in values)
