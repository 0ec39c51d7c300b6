"""The inbox service on real folders and a real ledger, driven one poll at a time."""

from __future__ import annotations

import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from prostop_filedrop.service import InboxService
from prostop_filedrop.settings import load_filedrop_settings
from prostop_plugin import as_received, hookimpl
from prostop_plugin.app import Prostop
from prostop_plugin.errors import ConfigError, LedgerError
from prostop_plugin.models import DiagnosisEvent, IssuanceRecord, ResultCorrection
from prostop_plugin.readers import read_bytes
from tests.adapters.filedrop.helpers import (
    GLUCOSE_HPRIM,
    REPO,
    FakeMonotonic,
    corpus,
    drop,
    files,
    open_runtime,
    original_names,
    wait_until,
)

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
<!ENTITY lol9 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<ClinicalDocument xmlns="urn:hl7-org:v3"><title>&lol9;</title></ClinicalDocument>"""


def settle_and_poll(service: InboxService, clock: FakeMonotonic, polls: int = 2) -> int:
    """Poll until the files in the inbox are seen twice (settle time 0 in these tests)."""
    finished = 0
    for _ in range(polls):
        finished += service.poll_once()
        clock.advance(service.config.settle_seconds + 0.01)
    return finished


UNUSABLE = {
    "empty": (b"", "the file is empty"),
    "blank": (b" \r\n\r\n", "the file is empty"),
    "truncated XML": (corpus("cda_crbio_positive.xml")[:700], "XML"),
    "billion laughs": (BILLION_LAUGHS, "DOCTYPE or entities"),
    "binary junk": (bytes(range(256)) * 8, "unrecognised format"),
    "truncated HL7 batch": (b"FHS|^~\\&\rBHS|^~\\&\r" + corpus("oru_rtpcr_positive.hl7")
                            + b"\rBTS|2\rFTS|1\r", "batch"),
}


@pytest.mark.parametrize("case", list(UNUSABLE), ids=list(UNUSABLE))
def test_an_unusable_file_is_quarantined_with_an_explanation(
    case: str, service: InboxService, clock: FakeMonotonic, runtime: Prostop
) -> None:
    data, expected = UNUSABLE[case]
    folders = service.files.folders
    drop(folders.inbox, "result.xml", data)
    assert settle_and_poll(service, clock) == 1
    quarantined = files(folders.quarantine)
    assert [p.name.endswith("--result.xml") for p in quarantined] == [True]
    assert quarantined[0].read_bytes() == data  # kept unchanged
    note = quarantined[0].with_name(quarantined[0].name + ".error.txt").read_text()
    problem = next(line for line in note.splitlines() if line.startswith("Problem:"))
    assert expected in problem, note
    assert "How to fix:" in note and "Traceback" not in note
    assert files(folders.inbox) == files(folders.processing) == files(folders.done) == []
    assert runtime.ledger.event_count() == 0


def test_an_oversize_file_is_quarantined_without_being_read(
    tmp_path: Path, section: dict[str, Any]
) -> None:
    section["max_file_bytes"] = 100
    with open_runtime(tmp_path, section) as runtime:
        clock = FakeMonotonic()
        service = InboxService(runtime, load_filedrop_settings(runtime.settings), clock=clock)
        service.files.prepare()
        drop(service.files.folders.inbox, "big.hpr", corpus("hprim_rtpcr_positif.hpr"))
        settle_and_poll(service, clock)
        note = next(service.files.folders.quarantine.glob("*.error.txt")).read_text()
        assert "larger than 100 bytes (setting adapter.filedrop.max_file_bytes)" in note
        assert runtime.ledger.event_count() == 0


def test_a_file_without_covid_evidence_is_filed_in_done_without_storing_anything(
    service: InboxService, clock: FakeMonotonic, runtime: Prostop
) -> None:
    folders = service.files.folders
    drop(folders.inbox, "glucose.hpr", GLUCOSE_HPRIM)
    assert settle_and_poll(service, clock) == 1
    assert original_names(folders.done) == ["glucose.hpr"]
    assert runtime.ledger.event_count() == 0
    assert runtime.ledger.summaries() == []


def test_a_covid_result_is_recorded_then_filed_in_done(
    service: InboxService, clock: FakeMonotonic, runtime: Prostop
) -> None:
    folders = service.files.folders
    drop(folders.inbox, "rtpcr.hpr", corpus("hprim_rtpcr_positif.hpr"))
    settle_and_poll(service, clock)
    assert original_names(folders.done) == ["rtpcr.hpr"]
    assert runtime.ledger.event_count() == 1
    [request] = runtime.engine.pending()
    assert request.patient.family_name == "DUPONT"
    assert request.decision.decision == "confirmed"
    event = runtime.ledger.get(request.issuance_id).event
    assert (event.source.adapter, event.source.format) == ("filedrop", "hprim")


def test_a_file_dropped_twice_is_filed_twice_and_recorded_once(
    service: InboxService, clock: FakeMonotonic, runtime: Prostop
) -> None:
    folders = service.files.folders
    for _ in range(2):
        drop(folders.inbox, "rtpcr.hpr", corpus("hprim_rtpcr_positif.hpr"))
        settle_and_poll(service, clock)
    assert original_names(folders.done) == ["rtpcr.hpr", "rtpcr.hpr"]
    assert runtime.ledger.event_count() == 1
    assert len(runtime.ledger.summaries()) == 1


def test_files_left_in_processing_are_read_first_at_start(
    service: InboxService, clock: FakeMonotonic, runtime: Prostop
) -> None:
    folders = service.files.folders
    left = folders.processing / "20201119T101500-0badcafe--left-by-crash.hpr"
    left.write_bytes(corpus("hprim_rtpcr_positif.hpr"))
    drop(folders.inbox, "new.xml", corpus("cda_crbio_positive.xml"))
    assert service.poll_once() == 1  # the left-over only: the new file is not settled yet
    assert original_names(folders.done) == ["left-by-crash.hpr"]
    assert original_names(folders.inbox) == ["new.xml"]
    clock.advance(1)
    assert service.poll_once() == 1
    assert original_names(folders.done) == ["left-by-crash.hpr", "new.xml"]
    assert runtime.ledger.event_count() == 2


class FailingCore:
    """Fails the core's recording before (nothing stored) or after (stored) it ran."""

    def __init__(self, when: str, times: int = 1) -> None:
        self.when, self.times = when, times

    @hookimpl(wrapper=True)
    def prostop_diagnosis_recorded(
        self, event: DiagnosisEvent
    ) -> Generator[None, IssuanceRecord | None, IssuanceRecord | None]:
        if self.when == "before" and self.times > 0:
            self.times -= 1
            raise LedgerError("database is locked", where="ledger.sqlite3")
        result = yield
        if self.when == "after" and self.times > 0:
            self.times -= 1
            raise RuntimeError("a host plugin failed after the event was stored")
        return result


def test_a_core_failure_before_storing_keeps_the_file_for_a_later_retry(
    tmp_path: Path, section: dict[str, Any]
) -> None:
    with open_runtime(tmp_path, section, FailingCore("before")) as runtime:
        clock = FakeMonotonic()
        service = InboxService(runtime, load_filedrop_settings(runtime.settings), clock=clock)
        service.files.prepare()
        folders = service.files.folders
        drop(folders.inbox, "rtpcr.hpr", corpus("hprim_rtpcr_positif.hpr"))
        assert settle_and_poll(service, clock) == 0
        assert original_names(folders.processing) == ["rtpcr.hpr"]
        assert runtime.ledger.event_count() == 0
        assert service.poll_once() == 0  # not due yet: no busy loop on a failing core
        clock.advance(service.config.poll_interval * 2 + 0.01)
        assert service.poll_once() == 1
        assert original_names(folders.done) == ["rtpcr.hpr"]
        assert files(folders.processing) == []
        assert runtime.ledger.event_count() == 1


def test_a_failure_after_the_event_is_stored_does_not_hold_the_file(
    tmp_path: Path, section: dict[str, Any]
) -> None:
    with open_runtime(tmp_path, section, FailingCore("after")) as runtime:
        clock = FakeMonotonic()
        service = InboxService(runtime, load_filedrop_settings(runtime.settings), clock=clock)
        service.files.prepare()
        drop(service.files.folders.inbox, "rtpcr.hpr", corpus("hprim_rtpcr_positif.hpr"))
        assert settle_and_poll(service, clock) == 1
        assert original_names(service.files.folders.done) == ["rtpcr.hpr"]
        assert runtime.ledger.event_count() == 1


class CorrectionSpy:
    def __init__(self) -> None:
        self.seen: list[ResultCorrection] = []

    @hookimpl
    def prostop_result_corrected(self, correction: ResultCorrection) -> None:
        self.seen.append(correction)


def test_a_corrected_result_is_reported_to_the_core(
    tmp_path: Path, section: dict[str, Any]
) -> None:
    spy = CorrectionSpy()
    corrected = corpus("oru_rtpcr_positive.hl7").replace(b"|A|||F|||", b"|A|||C|||")
    with open_runtime(tmp_path, section, spy) as runtime:
        clock = FakeMonotonic()
        service = InboxService(runtime, load_filedrop_settings(runtime.settings), clock=clock)
        service.files.prepare()
        drop(service.files.folders.inbox, "corrected.hl7", corrected)
        settle_and_poll(service, clock)
        assert [c.result.test.code for c in spy.seen] == ["94500-6"]
        assert spy.seen[0].source.adapter == "filedrop"
        assert runtime.ledger.event_count() == 1


def test_files_naming_no_sender_get_the_configured_host() -> None:
    [event] = read_bytes(corpus("hprim_rtpcr_positif.hpr"), "r.hpr", "filedrop")
    anonymous = event.model_copy(update={"source": event.source.model_copy(
        update={"host": "unknown lab"})})
    received = as_received(anonymous, "CABINET-DURAND", adapter="filedrop")
    assert received.source.host == "CABINET-DURAND"
    assert as_received(event, "CABINET-DURAND", adapter="filedrop").source.host == "LABO-GARONNE"


def test_a_json_event_file_is_written_back_through_this_adapter(
    service: InboxService, clock: FakeMonotonic, runtime: Prostop
) -> None:
    data = (REPO / "tests" / "events" / "diagnosis_u071_final.json").read_bytes()
    assert b'"adapter": "hl7v2_mllp"' in data
    drop(service.files.folders.inbox, "event.json", data)
    settle_and_poll(service, clock)
    [request] = runtime.engine.pending()
    source = runtime.ledger.get(request.issuance_id).event.source
    assert (source.adapter, source.host) == ("filedrop", "cabinet-test")


def test_start_refuses_a_missing_inbox(tmp_path: Path, section: dict[str, Any]) -> None:
    section["inbox"] = str(tmp_path / "typo")
    with open_runtime(tmp_path, section) as runtime:
        [service] = runtime.hooks.background_services(runtime)
        with pytest.raises(ConfigError, match="the inbox folder does not exist"):
            service.start()


def test_the_thread_picks_files_up_and_stops_promptly(
    tmp_path: Path, section: dict[str, Any]
) -> None:
    section["poll_interval"] = 0.05
    section["settle_seconds"] = 0.1
    with open_runtime(tmp_path, section) as runtime:
        [service] = runtime.hooks.background_services(runtime)
        assert isinstance(service, InboxService)
        service.start()
        try:
            drop(service.files.folders.inbox, "rtpcr.hpr", corpus("hprim_rtpcr_positif.hpr"))
            wait_until(lambda: original_names(service.files.folders.done) == ["rtpcr.hpr"],
                       what="the file in done/")
        finally:
            started = time.monotonic()
            service.stop()
        assert time.monotonic() - started < 1.0
        assert runtime.ledger.event_count() == 1
