"""The MLLP listener over real loopback sockets: ACKs, durability, limits, failures."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from prostop_hl7v2_mllp.server import MLLPService
from prostop_hl7v2_mllp.settings import load_mllp_settings
from prostop_plugin.app import Prostop
from prostop_plugin.errors import ConfigError, LedgerError
from prostop_plugin.hl7.er7 import parse
from prostop_plugin.hl7.send import MLLPSendError
from prostop_plugin.models import DiagnosisEvent, IssuanceRecord
from prostop_plugin.simulator.pki import make_pki
from tests.adapters.hl7v2_mllp.conftest import mllp_section
from tests.adapters.hl7v2_mllp.helpers import (
    CORPUS,
    GLUCOSE_ORU,
    RawConnection,
    client_for,
    control_id_of,
    corpus_bytes,
    original_mode,
    wait_until,
    with_header,
)

needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is not laid out")



@needs_corpus
def test_corpus_messages_are_acknowledged_only_once_stored(
    runtime: Prostop, listener: MLLPService
) -> None:
    files = sorted(CORPUS.glob("*.hl7"))
    assert len(files) >= 8
    with client_for(listener) as client:
        for number, path in enumerate(files, start=1):
            data = path.read_bytes()
            reply = client.exchange(data, control_id_of(data), timeout=5.0)
            # MSH-15 AL / MSH-16 NE in the corpus: enhanced mode, commit ACK
            assert (reply.code, reply.control_id) == ("CA", control_id_of(data)), path.name
            assert runtime.ledger.event_count() == number, "ACK sent before the event was stored"
            ack = parse(reply.raw)
            assert ack["MSH-18"] == parse(data)["MSH-18"], "ACK not in the sender's charset"
            assert (ack["MSH-5"], ack["MSH-6"]) == (parse(data)["MSH-3"], parse(data)["MSH-4"])
    records = [runtime.ledger.get(s.id) for s in runtime.ledger.summaries()]
    assert {(r.event.source.adapter, r.event.source.format) for r in records} == {
        ("hl7v2_mllp", "hl7v2")}
    assert "awaiting_confirmation" in {r.state.value for r in records}  # DUPONT: PCR + U07.1


@needs_corpus
def test_latin1_message_is_acknowledged_in_latin1(listener: MLLPService) -> None:
    data = corpus_bytes(CORPUS / "oru_localcode_latin1.hl7")
    with client_for(listener) as client:
        reply = client.exchange(data, "LD-000381", timeout=5.0)
    assert reply.code == "CA"
    assert parse(reply.raw).charset == "latin-1" and b"8859/1" in reply.raw


@needs_corpus
def test_original_mode_resend_is_answered_from_the_ledger(
    runtime: Prostop, listener: MLLPService
) -> None:
    data = original_mode(corpus_bytes())
    with client_for(listener) as client:
        first = client.exchange(data, "LG20201119-0001", timeout=5.0)
        again = client.exchange(data, "LG20201119-0001", timeout=5.0)
    assert (first.code, first.control_id) == ("AA", "LG20201119-0001")
    assert (again.code, again.control_id) == ("AA", "LG20201119-0001")
    assert runtime.ledger.event_count() == 1 and len(runtime.ledger.summaries()) == 1


def test_message_not_about_covid_is_acknowledged_and_nothing_stored(
    runtime: Prostop, listener: MLLPService
) -> None:
    with client_for(listener) as client:
        reply = client.exchange(GLUCOSE_ORU, "GLU-0001", timeout=5.0)
    assert (reply.code, reply.control_id) == ("AA", "GLU-0001")
    assert runtime.ledger.event_count() == 0 and runtime.ledger.summaries() == []


def test_unreadable_messages_get_AE_naming_the_position_and_the_connection_goes_on(
    listener: MLLPService,
) -> None:
    broken = b"MSH|^~\\&|LAB|LABO|||20201119||ORU^R01|BAD-1|P|2.5\rP!D|x\r"
    with client_for(listener) as client:
        garbage = client.exchange(b"hello world", None, timeout=5.0)
        segment = client.exchange(broken, "BAD-1", timeout=5.0)
        fine = client.exchange(GLUCOSE_ORU, "GLU-0001", timeout=5.0)
    assert garbage.code == "AE" and "byte 0" in garbage.text and "MSH" in garbage.text
    assert parse(garbage.raw)["ERR-3.1"] == "102"
    assert (segment.code, segment.control_id) == ("AE", "BAD-1")
    assert f"byte {broken.index(b'P!D')}" in segment.text and "segment 2" in segment.text
    assert fine.code == "AA"


def test_field_error_names_segment_and_field_in_ERR(listener: MLLPService) -> None:
    message = GLUCOSE_ORU.replace(b"||F\r", b"||F|||2020-11-19\r").replace(
        b"2345-7^Glucose [Mass", b"94500-6^SARS-CoV-2 RNA [Presence").replace(
        b"|NM|", b"|ST|")
    with client_for(listener) as client:
        reply = client.exchange(message, "GLU-0001", timeout=5.0)
    ack = parse(reply.raw)
    assert reply.code == "AE"
    assert (ack["ERR-2.1"], ack["ERR-2.2"], ack["ERR-2.3"]) == ("OBX", "1", "14")


def test_unsupported_message_type_gets_AR_with_error_200(listener: MLLPService) -> None:
    message = b"MSH|^~\\&|AGENDA|CAB|||20201119||SIU^S12|S-1|P|2.5\rSCH|1\r"
    with client_for(listener) as client:
        reply = client.exchange(message, "S-1", timeout=5.0)
    assert (reply.code, reply.control_id) == ("AR", "S-1")
    assert parse(reply.raw)["ERR-3.1"] == "200"


def test_ack_is_not_sent_when_msh15_asks_for_none(listener: MLLPService) -> None:
    never = with_header(GLUCOSE_ORU, control_id="NEVER-1", msh15="NE")
    errors_only = with_header(GLUCOSE_ORU, control_id="ER-1", msh15="ER")
    with client_for(listener) as client:
        with pytest.raises(MLLPSendError, match="no ACK within"):
            client.exchange(never, "NEVER-1", timeout=0.5)
        with pytest.raises(MLLPSendError, match="no ACK within"):
            client.exchange(errors_only, "ER-1", timeout=0.5)
        refused = client.exchange(with_header(b"MSH|^~\\&|A|B|||2020||SIU^S12|x|P|2.5\r",
                                              control_id="ER-2", msh15="ER"), "ER-2", 5.0)
    assert refused.code == "CR"


@pytest.mark.parametrize("section", [mllp_section(max_frame_bytes=2048)])
def test_oversize_frame_gets_AR_and_the_connection_is_closed(
    runtime: Prostop, listener: MLLPService
) -> None:
    conn = RawConnection(listener.port)
    try:
        conn.send_message(GLUCOSE_ORU + b"NTE|1||" + b"x" * 5000 + b"\r")
        reply = conn.read_ack()
        assert reply.code == "AR" and "2048-byte limit" in reply.text
        assert conn.closed_by_peer()
    finally:
        conn.close()
    assert runtime.ledger.event_count() == 0


def test_bytes_outside_a_frame_get_AR_then_framed_messages_go_on(listener: MLLPService) -> None:
    conn = RawConnection(listener.port)
    try:
        conn.send(GLUCOSE_ORU)  # forgot MLLP framing
        assert conn.read_ack().code == "AR"
        conn.send_message(GLUCOSE_ORU)
        assert conn.read_ack().code == "AA"
    finally:
        conn.close()


@pytest.mark.parametrize("section", [mllp_section(idle_timeout=0.3)])
def test_idle_connection_is_closed(listener: MLLPService) -> None:
    conn = RawConnection(listener.port)
    try:
        started = time.monotonic()
        assert conn.closed_by_peer(timeout=5.0)
        assert 0.2 < time.monotonic() - started < 3.0
    finally:
        conn.close()


@pytest.mark.parametrize("section", [mllp_section(max_connections=2, frame_timeout=1.0)])
def test_connections_beyond_the_limit_close_the_idlest_or_are_refused(
    listener: MLLPService,
) -> None:
    first, second = RawConnection(listener.port), RawConnection(listener.port)
    third = fourth = fifth = None
    try:
        for conn in (first, second):
            conn.send_message(GLUCOSE_ORU)
            assert conn.read_ack().code == "AA"
        third = RawConnection(listener.port)  # both others idle: the idlest makes room
        third.send_message(GLUCOSE_ORU)
        assert third.read_ack().code == "AA"
        assert first.closed_by_peer()
        for conn in (second, third):  # a message in progress on each: none is idle
            conn.send(b"\x0bMSH|^~\\&|")
        assert wait_until(lambda: listener.idle_count == 0)
        fourth = RawConnection(listener.port)
        assert fourth.closed_by_peer()
        assert second.closed_by_peer() and third.closed_by_peer()  # frame_timeout
        assert wait_until(lambda: listener.connection_count == 0)
        fifth = RawConnection(listener.port)
        fifth.send_message(GLUCOSE_ORU)
        assert fifth.read_ack().code == "AA"
    finally:
        for conn in (first, second, third, fourth, fifth):
            if conn is not None:
                conn.close()


@needs_corpus
def test_core_failure_is_answered_AR_and_the_resend_is_stored_once(
    runtime: Prostop, listener: MLLPService, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    real = runtime.hooks.diagnosis_recorded
    failures = [LedgerError("the ledger could not be written: disk I/O error")]

    def flaky(event: DiagnosisEvent) -> IssuanceRecord | None:
        if failures:
            raise failures.pop()
        return real(event)

    monkeypatch.setattr(runtime.hooks, "diagnosis_recorded", flaky)
    data = original_mode(corpus_bytes())
    with client_for(listener) as client:
        refused = client.exchange(data, "LG20201119-0001", timeout=5.0)
        accepted = client.exchange(data, "LG20201119-0001", timeout=5.0)
    assert (refused.code, refused.control_id) == ("AR", "LG20201119-0001")
    assert "again later" in refused.text and "disk" not in refused.text
    assert accepted.code == "AA"
    assert runtime.ledger.event_count() == 1
    assert "disk I/O error" in caplog.text and "Traceback" not in caplog.text


@needs_corpus
def test_eight_connections_times_ten_messages(runtime: Prostop, listener: MLLPService) -> None:
    base = original_mode(corpus_bytes())
    problems: list[str] = []

    def sender(number: int) -> None:
        try:
            with client_for(listener) as client:
                for index in range(10):
                    control_id = f"C{number}-M{index}"
                    reply = client.exchange(with_header(base, control_id=control_id),
                                            control_id, timeout=20.0)
                    if (reply.code, reply.control_id) != ("AA", control_id):
                        problems.append(f"{control_id}: {reply.code} {reply.control_id}")
        except Exception as exc:
            problems.append(f"connection {number}: {exc!r}")

    threads = [threading.Thread(target=sender, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert problems == []
    assert runtime.ledger.event_count() == 80


@needs_corpus
def test_stop_lets_a_message_being_stored_finish_and_drops_a_stuck_one_before_its_ack(
    runtime: Prostop, listener: MLLPService, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = runtime.hooks.diagnosis_recorded
    entered, release, finished = threading.Event(), threading.Event(), threading.Event()

    def slow(event: DiagnosisEvent) -> IssuanceRecord | None:
        entered.set()
        release.wait(10)
        try:
            return real(event)
        finally:
            finished.set()

    monkeypatch.setattr(runtime.hooks, "diagnosis_recorded", slow)
    replies: list[str] = []
    data = original_mode(corpus_bytes())

    def send() -> None:
        try:
            with client_for(listener) as client:
                replies.append(client.exchange(data, "LG20201119-0001", timeout=5.0).code)
        except MLLPSendError as exc:
            replies.append(exc.what)

    sender = threading.Thread(target=send)
    sender.start()
    assert entered.wait(5)
    threading.Timer(0.3, release.set).start()  # finishes within the 1 s grace
    listener.stop()
    sender.join(10)
    assert replies == ["AA"]

    # a second service whose message stays stuck past the grace: no ACK, stop still bounded
    release.clear()
    entered.clear()
    again = MLLPService(runtime, load_mllp_settings(runtime.settings))
    again.start()
    replies.clear()
    sender = threading.Thread(target=lambda: replies.append(_exchange_code(again, data)))
    sender.start()
    assert entered.wait(5)
    started = time.monotonic()
    again.stop()
    assert time.monotonic() - started < 3.0
    sender.join(10)
    assert replies and "without an ACK" in replies[0]
    finished.clear()
    release.set()
    assert finished.wait(10)  # the core call itself was not interrupted


def _exchange_code(service: MLLPService, data: bytes) -> str:
    try:
        with client_for(service) as client:
            return client.exchange(data, control_id_of(data), timeout=5.0).code
    except MLLPSendError as exc:
        return exc.what


def test_tls_listener_requires_a_client_certificate_signed_by_the_ca(
    tmp_path: Path, runtime: Prostop
) -> None:
    pki = make_pki(tmp_path / "pki")
    section = mllp_section(tls_cert_file=str(pki.server_cert), tls_key_file=str(pki.server_key),
                           tls_client_ca_file=str(pki.ca))
    runtime.settings.adapter["hl7v2_mllp"] = section
    service = MLLPService(runtime, load_mllp_settings(runtime.settings))
    service.start()
    try:
        assert service.name.endswith("(TLS)")
        with client_for(service, ssl_context=pki.client_context()) as client:
            assert client.exchange(GLUCOSE_ORU, "GLU-0001", timeout=5.0).code == "AA"
        with pytest.raises(MLLPSendError), \
                client_for(service, ssl_context=pki.client_context(with_certificate=False)) as c:
            c.exchange(GLUCOSE_ORU, "GLU-0001", timeout=2.0)
        with pytest.raises(MLLPSendError), client_for(service) as plain:
            plain.exchange(GLUCOSE_ORU, "GLU-0001", timeout=2.0)
    finally:
        service.stop()


def test_port_in_use_is_a_config_error(runtime: Prostop, listener: MLLPService) -> None:
    runtime.settings.adapter["hl7v2_mllp"] = mllp_section(listen=f"127.0.0.1:{listener.port}")
    taken = MLLPService(runtime, load_mllp_settings(runtime.settings))
    with pytest.raises(ConfigError, match="cannot listen on") as error:
        taken.start()
    assert "choose a free port" in error.value.one_line()


def test_the_plugin_provides_the_service_and_describes_the_adapter(runtime: Prostop) -> None:
    services = runtime.hooks.background_services(runtime)
    assert [type(s).__name__ for s in services] == ["MLLPService"]
    assert services[0].name == "MLLP 127.0.0.1:0"
    assert [a.name for a in runtime.hooks.adapters()] == ["hl7v2_mllp"]
