"""A file whose writer pauses longer than ``settle_seconds`` looks settled while it is cut
short. It must not be read as a whole message "without COVID evidence" (the positive would be
lost silently): it waits in the inbox for the rest, and is quarantined, saying why, if it stays
incomplete for ``incomplete_timeout``. Real files in a real inbox, a writer holding its file
open."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from prostop_filedrop.folders import ERROR_SUFFIX
from prostop_filedrop.service import InboxService
from prostop_filedrop.settings import FiledropSettings
from prostop_plugin.app import Prostop
from prostop_plugin.hl7.mllp import encode_frame
from tests.adapters.filedrop.helpers import (
    GLUCOSE_HPRIM,
    FakeMonotonic,
    corpus,
    drop,
    files,
    original_names,
)

CASES = Path(__file__).resolve().parents[2] / "file_cases"
TIMEOUT = 60.0
ORU = corpus("oru_rtpcr_positive.hl7")
HPRIM = corpus("hprim_rtpcr_positif.hpr")
SANTE = (CASES / "hprim_sante_swapped.hpr").read_bytes()
BATCH = b"FHS|^~\\&|SIL-BIO\rBHS|^~\\&|SIL-BIO\r" + ORU + b"BTS|1\rFTS|1\r"
TWO_REPORTS = GLUCOSE_HPRIM + HPRIM  # HPRIM médecin: a report, then the positive one


def cut_after(data: bytes, marker: bytes, extra: int = 0) -> int:
    return data.index(marker) + len(marker) + extra


#: a whole positive file, and where its writer pauses (the bytes written so far)
CASES_CUT = {
    "HL7, after the OBR (no OBX yet)": (ORU, cut_after(ORU, b"|||F\r")),
    "HL7, in the middle of the first OBX": (ORU, cut_after(ORU, b"OBX|1|CWE|94500-6")),
    "HL7 batch, without its trailers": (BATCH, len(BATCH) - len(b"BTS|1\rFTS|1\r")),
    "HL7 batch, without FTS": (BATCH, len(BATCH) - len(b"FTS|1\r")),
    "MLLP capture, frame not closed": (encode_frame(ORU), len(encode_frame(ORU)) - 2),
    "HPRIM médecin, inside the LAB block": (HPRIM, cut_after(HPRIM, b"****LAB****\r\n")),
    "HPRIM médecin, 2nd report before its LAB block": (
        TWO_REPORTS, len(GLUCOSE_HPRIM) + cut_after(HPRIM, b"DR DURAND")),
    "HPRIM Santé, without its L record": (SANTE, cut_after(SANTE, b"A|1015\r\n")),
}


@pytest.fixture
def section(tmp_path: Path) -> dict[str, Any]:
    from tests.adapters.filedrop.helpers import filedrop_section

    return filedrop_section(tmp_path, incomplete_timeout=TIMEOUT)


def poll(service: InboxService, clock: FakeMonotonic, times: int = 3) -> None:
    for _ in range(times):
        service.poll_once()
        clock.advance(service.config.settle_seconds + 0.01)


@pytest.mark.parametrize("case", list(CASES_CUT), ids=list(CASES_CUT))
def test_a_writer_that_pauses_gets_its_file_read_whole_once_it_finishes(
    case: str, service: InboxService, clock: FakeMonotonic, runtime: Prostop
) -> None:
    data, pause_at = CASES_CUT[case]
    folders = service.files.folders
    with (folders.inbox / "lab-result").open("wb") as writer:
        writer.write(data[:pause_at])
        writer.flush()
        poll(service, clock)  # longer than settle_seconds (0 here): the file looks settled
        assert original_names(folders.inbox) == ["lab-result"], "left in the inbox"
        assert files(folders.done) == files(folders.quarantine) == []
        drop(folders.inbox, "other.hpr", GLUCOSE_HPRIM)
        poll(service, clock)  # another sender's file is not held back meanwhile
        assert original_names(folders.done) == ["other.hpr"]
        writer.write(data[pause_at:])  # the writer goes on, well within incomplete_timeout
    poll(service, clock)
    assert original_names(folders.done) == ["lab-result", "other.hpr"]
    assert files(folders.inbox) == files(folders.quarantine) == []
    assert runtime.ledger.event_count() == 1
    [request] = runtime.engine.pending()  # the positive was read whole, not dropped
    assert request.decision.decision == "confirmed"


@pytest.mark.parametrize("case", list(CASES_CUT), ids=list(CASES_CUT))
def test_a_file_that_stays_cut_short_is_quarantined_with_a_clear_note(
    case: str, service: InboxService, clock: FakeMonotonic, runtime: Prostop,
    config: FiledropSettings,
) -> None:
    data, pause_at = CASES_CUT[case]
    folders = service.files.folders
    drop(folders.inbox, "lab-result", data[:pause_at])
    poll(service, clock)
    clock.advance(TIMEOUT / 2)
    poll(service, clock)
    assert original_names(folders.inbox) == ["lab-result"], "still waiting for the rest"
    clock.advance(TIMEOUT / 2)
    poll(service, clock)
    assert original_names(folders.quarantine) == ["lab-result"]
    assert files(folders.inbox) == files(folders.done) == files(folders.processing) == []
    [kept] = files(folders.quarantine)
    assert kept.read_bytes() == data[:pause_at]
    note = kept.with_name(kept.name + ERROR_SUFFIX).read_text(encoding="utf-8")
    problem = next(line for line in note.splitlines() if line.startswith("Problem:"))
    assert "truncated" in problem and f"did not change for {config.incomplete_timeout:g} s" in \
        problem, note
    assert "adapter.filedrop.incomplete_timeout" in note
    assert runtime.ledger.event_count() == 0


def test_a_whole_file_is_not_held_back(
    service: InboxService, clock: FakeMonotonic, runtime: Prostop
) -> None:
    folders = service.files.folders
    for name, data in (("oru.hl7", ORU), ("batch.hl7", BATCH), ("rtpcr.hpr", HPRIM),
                       ("sante.hpr", SANTE), ("capture.mllp", encode_frame(ORU))):
        drop(folders.inbox, name, data)
    poll(service, clock, times=2)
    assert original_names(folders.done) == sorted(
        ["oru.hl7", "batch.hl7", "rtpcr.hpr", "sante.hpr", "capture.mllp"])
