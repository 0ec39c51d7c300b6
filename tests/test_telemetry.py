"""The [metrics] endpoint, scraped over HTTP and read with prometheus-client's own text parser:
events, decisions, transitions, the code service's and PSC's latency, the write-back backlog;
no patient data anywhere in it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from prostop_plugin import hookimpl
from prostop_plugin.app import Prostop
from prostop_plugin.config import load_settings
from prostop_plugin.errors import ConfigError
from prostop_plugin.metrics_service import MetricsService
from prostop_plugin.models import ConfirmationDecision, ConfirmationRequest, Practitioner
from prostop_plugin.simulator import RunningSimulator
from prostop_plugin.telemetry import ack_code, label
from tests.fixtures.builders import approve, rtpcr_event, serology_event, settings_for
from tests.fixtures.simulator import code_service_settings, minted_token, psc_settings

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(service: MetricsService) -> tuple[str, Samples]:
    response = httpx.get(f"http://127.0.0.1:{service.port}/metrics", timeout=5.0)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return response.text, samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


class Physician:
    """Approves at once with a token from the simulated PSC; no write-back (a backlog)."""

    def __init__(self, simulator: RunningSimulator) -> None:
        self.simulator = simulator

    @hookimpl
    def prostop_confirm_issuance(self, request: ConfirmationRequest) -> ConfirmationDecision:
        return approve()

    @hookimpl
    def prostop_practitioner_token(self, practitioner: Practitioner,
                                   binding_message: str) -> Any:
        return minted_token(self.simulator, practitioner.national_id)


@pytest.fixture
def served(tmp_path: Path, simulator: RunningSimulator) -> Iterator[tuple[Prostop, MetricsService]]:
    settings = settings_for(
        tmp_path, code_service=code_service_settings(simulator), psc=psc_settings(simulator),
        metrics={"listen": "127.0.0.1:0"},
    )
    with Prostop.open(settings, plugins=[Physician(simulator)]) as app:
        service = MetricsService(app)
        service.start()
        try:
            yield app, service
        finally:
            service.stop()


def test_the_endpoint_counts_what_happened_and_reads_the_backlog_from_the_ledger(
    served: tuple[Prostop, MetricsService]
) -> None:
    app, service = served
    assert service.name == f"metrics http://127.0.0.1:{service.port}/metrics"
    _, before = scrape(service)
    assert value(before, "prostop_write_back_backlog") == 0
    now = datetime.now(UTC)
    issued = app.hooks.diagnosis_recorded(rtpcr_event(n=1, when=now - timedelta(hours=2)))
    refused = app.hooks.diagnosis_recorded(serology_event(n=2, when=now - timedelta(hours=2)))
    assert issued is not None and issued.state.value == "write_back_failed"  # no adapter here
    assert refused is not None and refused.state.value == "not_eligible"

    text, after = scrape(service)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("prostop_events_received_total", adapter="test", format="none") == 2
    assert delta("prostop_eligibility_decisions_total", decision="confirmed") == 1
    assert delta("prostop_eligibility_decisions_total", decision="not_eligible") == 1
    for state in ("awaiting_confirmation", "approved", "issuing", "issued", "not_eligible"):
        assert delta("prostop_issuance_transitions_total", state=state) == 1, state
    # the code service answered once (the simulator, over loopback HTTP), PSC's keys were read
    assert delta("prostop_http_request_seconds_count", service="code_service",
                 outcome="2xx") == 1
    assert delta("prostop_http_request_seconds_count", service="psc", outcome="2xx") >= 1
    assert value(after, "prostop_write_back_backlog") == 1  # read from the ledger
    assert 0 <= value(after, "prostop_write_back_oldest_seconds") < 600
    assert value(after, "prostop_build_info", version=__import__("prostop_plugin").__version__)
    for private in ("DUPONT", "Camille", "DOS-0001", "LABO-GARONNE", issued.id):
        assert private not in text


def test_code_service_errors_are_counted_by_kind(
    served: tuple[Prostop, MetricsService], simulator: RunningSimulator
) -> None:
    app, service = served
    _, before = scrape(service)
    simulator.queue_faults("503:1")
    record = app.hooks.diagnosis_recorded(rtpcr_event(n=3, when=datetime.now(UTC)))
    assert record is not None and record.code_last2  # the second attempt got a code
    _, after = scrape(service)
    key = ("prostop_http_errors_total", (("kind", "http_5xx"), ("service", "code_service")))
    assert after.get(key, 0) - before.get(key, 0) == 1


def test_a_network_address_needs_allow_remote(tmp_path: Path) -> None:
    config = tmp_path / "prostop.toml"
    config.write_text('[metrics]\nlisten = "0.0.0.0:9710"\n')
    with pytest.raises(ConfigError) as refused:
        load_settings(config)
    assert "allow_remote" in str(refused.value) and "firewall" in str(refused.value)
    config.write_text('[metrics]\nlisten = "0.0.0.0:9710"\nallow_remote = true\n')
    assert load_settings(config).metrics.address() == ("0.0.0.0", 9710)
    config.write_text('[metrics]\nlisten = "9710"\n')
    with pytest.raises(ConfigError, match="HOST:PORT"):
        load_settings(config)


def test_a_port_in_use_is_a_config_error(served: tuple[Prostop, MetricsService]) -> None:
    app, service = served
    taken = app.settings.model_copy(update={"metrics": app.settings.metrics.model_copy(
        update={"listen": f"127.0.0.1:{service.port}"})})
    other = MetricsService(cast(Prostop, SimpleNamespace(settings=taken)))
    with pytest.raises(ConfigError, match="cannot listen"):
        other.start()


@pytest.mark.parametrize(("raw", "expected"), [
    ("hl7v2_mllp", "hl7v2_mllp"), ("HPRIM-Sante", "hprim_sante"), (None, "none"),
    ("DUPONT Camille", "other"), ("a" * 40, "other"), ("../../etc", "other"),
])
def test_label_values_from_outside_cannot_carry_data(raw: str | None, expected: str) -> None:
    assert label(raw) == expected


def test_the_ack_code_is_read_from_msa_1() -> None:
    assert ack_code(b"MSH|^~\\&|A\rMSA|AE|X1\rERR|\r") == "AE"
    assert ack_code(None) == "none"
    assert ack_code(b"garbage") == "other"


def test_a_labelled_count_is_looked_up_once_then_counted_on(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    from prometheus_client import CollectorRegistry, Counter

    from prostop_plugin.telemetry import Metrics

    facade = Metrics(CollectorRegistry())
    lookups: list[tuple[str, ...]] = []
    original = Counter.labels

    def counted(self: Counter, *values: str) -> Counter:
        lookups.append(values)
        return original(self, *values)

    monkeypatch.setattr(Counter, "labels", counted)
    for _ in range(3):
        facade.mllp_answered(0.001, b"MSH|^~\\&|||||||ACK|1|P|2.5\rMSA|AA|1")
        facade.mllp_answered(0.001, None)
    assert lookups == [("AA",), ("none",)]  # once per label value, not per message
    assert facade.registry.get_sample_value("prostop_mllp_messages_total", {"ack": "AA"}) == 3
    assert facade.registry.get_sample_value("prostop_mllp_messages_total", {"ack": "none"}) == 3
